"""Logging filters: what must never reach a log line.

Query strings carry the webhook token (`?token=...`), so every request line
that the development server (or any other logger) formats is cut at the `?`.
Subscribers' phone numbers are masked in every line and traceback (a database
error's detail, a USSD handler's exception) unless AT_LOG_PII is on.
"""

import logging
import re

from django.conf import settings

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


class MaskPhoneNumbers(logging.Filter):
    """Mask phone-number-like runs of digits in a record's message and traceback (unless AT_LOG_PII)."""

    _formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(settings, "AT_LOG_PII", False):
            return True
        from hub.callbacks.payload import mask_phones_in

        try:
            message = record.getMessage()
        except Exception:  # a malformed record: let the handler report it as logging does
            return True
        masked = mask_phones_in(message)
        if masked != message:
            record.msg, record.args = masked, None
        if record.exc_info and not record.exc_text:
            record.exc_text = self._formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask_phones_in(record.exc_text)
        if record.stack_info:
            record.stack_info = mask_phones_in(record.stack_info)
        return True
