"""A handler module as a developer writes it: imported when Django starts, because the app is installed."""

from ussd.handlers import screen_handler


@screen_handler(label="Discovered")
def hello(hop):
    return "END Found at start-up"
