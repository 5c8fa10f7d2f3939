"""gunicorn's logger with an access log that cannot be forged.

gunicorn writes the request path percent-decoded (`%(U)s`), so a request for
`/x%0A127.0.0.1 "GET /admin/ HTTP/1.1" 200` wrote a second, invented line.
Every value of an access-log line is written with control characters escaped.
"""

from gunicorn.glogging import Logger


def escape_control(text: str) -> str:
    """`text` with newlines, tabs and other control characters written as `\\xNN` escapes."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else f"\\x{ord(c):02x}" if ord(c) < 256 else f"\\u{ord(c):04x}" for c in text)


class SafeAccessLogger(Logger):
    def atoms(self, resp, req, environ, request_time):
        atoms = super().atoms(resp, req, environ, request_time)
        for key, value in atoms.items():
            if isinstance(value, str) and not value.isprintable():
                atoms[key] = escape_control(value)
        return atoms
