"""Python screens used by the tests (a project puts its own in `<app>/ussd_handlers.py`).

Importing this module registers them; `not_registered` is left out on purpose.
"""

import sys

from ussd.handlers import screen_handler

#: Every hop `not_registered` was called with: stays empty, since nothing unregistered is ever run.
CALLED = []


@screen_handler(label="Account balance")
def balance(hop):
    return f"END Balance of {hop.phone_number} after {hop.text!r}: KES 10.00"


@screen_handler(label="Broken (raises)")
def broken(hop):
    raise RuntimeError("the balance service is down")


@screen_handler(label="Not a screen")
def not_a_screen(hop):
    return "Balance: 10"


@screen_handler(label="Not even text")
def not_text(hop):
    return 10


@screen_handler(label="Exits the process")
def exits(hop):
    sys.exit(3)


@screen_handler(name="greeting", label="Greeting")
def greet(hop):
    return f"END Hello from {hop.screen}"


def not_registered(hop):
    CALLED.append(hop)
    return "END should never be shown"
