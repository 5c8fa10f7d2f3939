"""A module nothing imports: a screen naming it shows that what staff type is never imported."""

RAN = True


def run(hop):
    return "END should never be shown"
