"""Logging filters: what must never reach a log line.

Query strings carry the webhook token (`?token=...`), so every request line
that the development server (or any other logger) formats is cut at the `?`.
"""

import logging
import re

# A path followed by a query string, inside a request line or a URL.
_QUERY = re.compile(r"(?P<path>/[^\s?\"']*)\?[^\s\"']*")


def strip_query_strings(text: str) -> str:
    """Return `text` with the query string of every path or URL removed."""
    return _QUERY.sub(r"\g<path>", text)


class StripQueryStrings(logging.Filter):
    """Rewrite a record's message and arguments without query strings."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str) and "?" in record.msg:
            record.msg = strip_query_strings(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(strip_query_strings(a) if isinstance(a, str) and "?" in a else a for a in record.args)
        return True
