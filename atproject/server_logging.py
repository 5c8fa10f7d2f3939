"""Access logs that cannot be forged, for granian (scripts/serve) and gunicorn (gunicorn.conf.py).

Both servers write the request path percent-decoded, so a request for
`/x%0A127.0.0.1 "GET /admin/ HTTP/1.1" 200` wrote a second, invented line.
Every value of an access-log line is written with control characters escaped.
Neither writes the query string (it carries the webhook token).
"""

import logging


def escape_control(text: str) -> str:
    """`text` with newlines, tabs and other control characters written as `\\xNN` escapes."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else f"\\x{ord(c):02x}" if ord(c) < 256 else f"\\u{ord(c):04x}" for c in text)


class EscapeControlCharacters(logging.Filter):
    """granian's access log (`granian.access`): its record's values with control characters escaped."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, dict):
            record.args = {
                key: escape_control(value) if isinstance(value, str) and not value.isprintable() else value
                for key, value in record.args.items()
            }
        return True


def _gunicorn_logger():
    from gunicorn.glogging import Logger

    class SafeAccessLogger(Logger):
        def atoms(self, resp, req, environ, request_time):
            atoms = super().atoms(resp, req, environ, request_time)
            for key, value in atoms.items():
                if isinstance(value, str) and not value.isprintable():
                    atoms[key] = escape_control(value)
            return atoms

    return SafeAccessLogger


def __getattr__(name):  # gunicorn.conf.py names "atproject.server_logging.SafeAccessLogger"
    if name == "SafeAccessLogger":
        return _gunicorn_logger()
    raise AttributeError(name)
