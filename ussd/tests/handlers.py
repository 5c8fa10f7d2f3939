"""Python screens used by the tests (a project would put its own in its code)."""


def balance(hop):
    return f"END Balance of {hop.phone_number} after {hop.text!r}: KES 10.00"


def broken(hop):
    raise RuntimeError("the balance service is down")


def not_a_screen(hop):
    return "Balance: 10"
