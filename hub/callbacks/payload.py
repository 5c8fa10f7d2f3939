"""Reading a callback body: decoding, parsing and typed access to its fields.

AT sends form-encoded bodies for SMS, USSD and voice and JSON for airtime and SIM
swap, but its docs are silent on several; so every callback accepts both. Values
a database cannot hold (NUL, lone surrogates) are escaped here, once, so that no
payload is ever a reason to lose its row.
"""

import json
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Any, NoReturn
from urllib.parse import parse_qsl
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.exceptions import SuspiciousOperation
from django.http import HttpRequest
from django.http.multipartparser import MultiPartParserError
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from hub.phones import normalize_phone

MAX_FIELDS = 1000
#: Deepest nesting of a JSON body (AT's deepest is 3); deeper bodies are refused, not recursed into.
MAX_JSON_DEPTH = 32
MAX_INTEGER = 2**31 - 1
#: Money columns hold 18 digits, 4 of them after the point.
MAX_MONEY = Decimal("1e14")
MONEY_PLACES = Decimal("0.0001")


class CallbackError(Exception):
    """A callback whose payload cannot be used: answered 400, its row kept with this message."""


def clean_text(value: str) -> str:
    """Escape what no database column can hold: NUL bytes and lone surrogates."""
    if value.isascii() and "\x00" not in value:
        return value
    return value.encode("utf-8", "backslashreplace").decode("utf-8").replace("\x00", "\\x00")


def clean(value: Any) -> Any:
    """`clean_text` applied through a parsed JSON or form structure; numbers stay numbers."""
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, dict):
        return {clean_text(str(k)): clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [clean(v) for v in value]
    return value


def jsonable(value: Any) -> Any:
    """A copy of a cleaned payload fit for a JSON column.

    A JSON number stays a number when a float holds it exactly as sent; one that
    a float would change (AT's `0.408333333333333345`) is kept as its text, so
    that the stored payload is always what AT sent.
    """
    if isinstance(value, Decimal):
        number = float(value)
        return number if math.isfinite(number) and Decimal(repr(number)) == value else str(value)
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [jsonable(v) for v in value]
    return value


# Fields of AT's callbacks that identify a person or say what they wrote.
PII_FIELDS = frozenset(
    {
        "phonenumber",
        "from",
        "callernumber",
        "destinationnumber",
        "dialdestinationnumber",
        "text",
        "input",
        "lastappresponse",
        "dtmfdigits",
        "recordingurl",
    }
)


def mask_phone(value: str) -> str:
    """ "+254711000123" → "+2547******23": enough to tell numbers apart in a log, not to call them."""
    value = str(value)
    return value if len(value) <= 6 else value[:5] + "*" * (len(value) - 7) + value[-2:]


# A run of 9 to 15 digits, with or without a leading +, that is not part of a longer word or number.
_PHONE_IN_TEXT = re.compile(r"(?<![\w.+])\+?\d{9,15}(?![\w.])")


def mask_phones_in(text: str) -> str:
    """Every phone-number-like run of digits in free text (an error, a log line) masked as `mask_phone` does."""
    return _PHONE_IN_TEXT.sub(lambda m: mask_phone(m.group(0)), text)


def mask_pii(data: dict) -> dict:
    """A copy of a payload fit for INFO logs: phone numbers masked, texts replaced by their length."""
    masked = {}
    for key, value in data.items():
        name = str(key).lower()
        if name not in PII_FIELDS or value in (None, ""):
            masked[key] = value
        elif name in ("text", "input", "lastappresponse", "recordingurl"):
            masked[key] = f"<{len(str(value))} characters>"
        else:
            masked[key] = mask_phone(value)
    return masked


@dataclass
class ParsedBody:
    """What a request body turned into.

    `data` is the parsed payload (a dict, possibly empty); `raw_text` keeps the body
    as text whenever it could not be parsed or did not decode cleanly; `error`
    says why it could not be parsed (the callback is then answered 400).
    """

    data: dict = field(default_factory=dict)
    raw_text: str = ""
    content_type: str = ""
    error: str = ""


def _raw(body: bytes) -> str:
    return clean_text(body.decode("utf-8", "backslashreplace"))


def _reject_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not a number")


def _parse_json(body: bytes) -> dict:
    text = body.decode("utf-8-sig")  # UnicodeDecodeError is a ValueError
    try:
        data = json.loads(text, parse_float=Decimal, parse_constant=_reject_constant)
    except RecursionError:
        raise ValueError(f"the JSON body is nested deeper than {MAX_JSON_DEPTH} levels") from None
    if not isinstance(data, dict):
        raise ValueError("the JSON body is not an object")
    if _depth(data) > MAX_JSON_DEPTH:
        raise ValueError(f"the JSON body is nested deeper than {MAX_JSON_DEPTH} levels")
    return data


def _depth(value: object) -> int:
    """How deeply objects and arrays nest in `value` (measured without recursion)."""
    deepest, pending = 0, [(value, 1)]
    while pending:
        item, level = pending.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, level)
            if level <= MAX_JSON_DEPTH:
                pending.extend((child, level + 1) for child in (item.values() if isinstance(item, dict) else item))
    return deepest


def _pairs_to_dict(pairs: Iterable[tuple[str, Any]]) -> dict[str, Any]:
    """Form pairs to a dict; a repeated key keeps all its values, as a list."""
    data: dict = {}
    for key, value in pairs:
        if key in data:
            previous = data[key]
            data[key] = (previous if isinstance(previous, list) else [previous]) + [value]
        else:
            data[key] = value
    return data


def _parse_form(body: bytes, *, strict: bool) -> tuple[dict, bool]:
    """Parse a urlencoded body; returns the data and whether it decoded cleanly.

    Bytes that are not UTF-8 (raw or percent-encoded) become U+FFFD; the caller
    then keeps the raw body too.
    """
    try:
        text, decoded_cleanly = body.decode("utf-8"), True
    except UnicodeDecodeError:
        text, decoded_cleanly = body.decode("utf-8", "replace"), False
    try:
        pairs = _form_pairs(text, strict=strict, errors="strict")
    except UnicodeDecodeError:
        pairs = _form_pairs(text, strict=strict, errors="replace")
        decoded_cleanly = False
    return _pairs_to_dict(pairs), decoded_cleanly


def _form_pairs(text: str, *, strict: bool, errors: str) -> list[tuple[str, str]]:
    return parse_qsl(
        text, keep_blank_values=True, strict_parsing=strict, encoding="utf-8", errors=errors, max_num_fields=MAX_FIELDS
    )


def _parse_multipart(request: HttpRequest) -> dict:
    try:
        post, files = request.POST, request.FILES  # Django parses multipart from the body already read
    except SuspiciousOperation as exc:  # more fields or files than Django allows
        raise ValueError(str(exc)) from None
    data = _pairs_to_dict((key, value) for key in post for value in post.getlist(key))
    for key in files:
        data.setdefault(key, [f"<file {f.name}>" for f in files.getlist(key)])
    return data


def parse_body(body: bytes, content_type: str, request: HttpRequest | None = None) -> ParsedBody:
    """Parse a callback body by its content type.

    JSON for `application/json` (and `+json`); form for urlencoded; multipart as a
    form; anything else is tried as a form, then as JSON (a body that opens with
    `{` is tried as JSON first, since a JSON object may contain `=`).
    """
    media_type = (content_type or "").split(";")[0].strip().lower()
    result = ParsedBody(content_type=clean_text(media_type[:100]))
    if not body:
        return result
    is_json_type = media_type == "application/json" or media_type.endswith("+json")
    try:
        if is_json_type:
            result.data = _parse_json(body)
        elif media_type == "application/x-www-form-urlencoded":
            result.data, decoded_cleanly = _parse_form(body, strict=False)
            if not decoded_cleanly:
                result.raw_text = _raw(body)
        elif media_type == "multipart/form-data" and request is not None:
            result.data = _parse_multipart(request)
        else:
            result.data = _parse_unknown(body)
    except (ValueError, MultiPartParserError) as exc:
        result.data = {}
        result.raw_text = _raw(body)
        kind = "JSON" if is_json_type else "form" if "form" in media_type else "body"
        result.error = f"malformed {kind}: {clean_text(str(exc))[:200]}"
        return result
    result.data = clean(result.data)
    return result


def _parse_unknown(body: bytes) -> dict:
    attempts = [lambda: _parse_form(body, strict=True)[0], lambda: _parse_json(body)]
    if body.lstrip()[:1] in (b"{", b"["):
        attempts.reverse()
    for attempt in attempts:
        try:
            return attempt()
        except ValueError:
            continue
    raise ValueError("the body is neither form-encoded nor JSON")


# --- Typed access ---------------------------------------------------------------

_AT_DATE_PLUS = re.compile(r"^(\d{4}-\d{2}-\d{2})\+(\d{2}:\d{2})")
_MONEY = re.compile(r"^\s*(?:([A-Za-z]{3})\s*)?([-+]?\d+(?:\.\d+)?)\s*(?:([A-Za-z]{3}))?\s*$")


def parse_money(value: object) -> tuple[Decimal, str]:
    """AT's money strings ("KES 0.8000", "10 KES", "0.8") or numbers, as (Decimal, currency or "").

    Rounded half-even to the 4 decimal places a money column holds: AT sends
    call costs such as 0.408333333333333345 (the exact value stays in the payload).
    """
    match = None if isinstance(value, (bool, dict, list)) else _MONEY.match(str(value))
    if not match:
        raise ValueError("must be an amount such as 'KES 10.00'")
    amount = Decimal(match.group(2))
    if abs(amount) >= MAX_MONEY:
        raise ValueError(f"is out of range (at most {MAX_MONEY:,.0f})")
    return amount.quantize(MONEY_PLACES, rounding=ROUND_HALF_EVEN), (match.group(1) or match.group(3) or "").upper()


class Payload:
    """Typed, validating reads of a parsed payload's fields.

    Field names are matched exactly, then case-insensitively (AT's own docs
    disagree on case in places). Each reader raises `CallbackError` naming the
    field when a value is required and missing, or present and malformed.
    """

    def __init__(self, data: dict):
        self.data = data
        self._folded = {str(k).lower(): k for k in data}

    def get(self, name: str) -> Any:
        """The field's value (the last one of a repeated form field), or None."""
        key = name if name in self.data else self._folded.get(name.lower())
        if key is None:
            return None
        value = self.data[key]
        if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
            value = value[-1]
        return value

    def _present(self, name: str, required: bool) -> Any:
        """The value, or None when absent or blank (an error if required)."""
        value = self.get(name)
        if value is None or (isinstance(value, str) and not value.strip()):
            if required:
                raise CallbackError(f"missing required field '{name}'")
            return None
        return value

    def text(self, name: str, *, required: bool = False, max_length: int | None = None, strip: bool = True) -> str:
        """A string field ("" when absent); numbers are accepted and written out."""
        value = self._present(name, required)
        if value is None:
            return ""
        if isinstance(value, (bool, dict, list)):
            raise CallbackError(f"field '{name}' must be a string")
        text = str(value).strip() if strip else str(value)
        if max_length is not None and len(text) > max_length:
            raise CallbackError(f"field '{name}' is longer than {max_length} characters")
        return text

    def integer(self, name: str, *, required: bool = False, minimum: int = 0, maximum: int = MAX_INTEGER) -> int | None:
        value = self._present(name, required)
        if value is None:
            return None
        try:
            if isinstance(value, bool):
                raise ValueError
            exact = Decimal(str(value))
            if not exact.is_finite() or exact != exact.to_integral_value():
                raise ValueError  # "inf", "nan"; "1.5"
        except (ValueError, InvalidOperation):
            raise CallbackError(f"field '{name}' must be a whole number") from None
        if not minimum <= exact <= maximum:  # compared before int(): "1e999999999" would be a huge int
            raise CallbackError(f"field '{name}' must be between {minimum} and {maximum}")
        number = int(exact)
        if not minimum <= number <= maximum:
            raise CallbackError(f"field '{name}' must be between {minimum} and {maximum}")
        return number

    def money(self, name: str, *, required: bool = False) -> tuple[Decimal | None, str]:
        """An amount with its currency: "KES 0.8000", "0.8", 0.8 or "10 KES"; never through float.

        Money is never a reason to refuse a callback: an optional amount that
        cannot be read (or held) is stored empty, its value kept in the payload.
        Only a required one (what airtime validation compares) refuses it.
        """
        value = self._present(name, required)
        if value is None:
            return None, ""
        try:
            return parse_money(value)
        except ValueError as exc:
            if required:
                raise CallbackError(f"field '{name}' {exc}") from None
            return None, ""

    def timestamp(self, name: str, *, required: bool = False) -> datetime | None:
        """A date and time: "2026-11-27 10:15:03" or ISO 8601; a value with no zone is in AT_TIMEZONE."""
        value = self._present(name, required)
        if value is None:
            return None
        text = _AT_DATE_PLUS.sub(r"\1 \2", str(value).strip())
        try:
            moment = parse_datetime(text)
        except ValueError:
            moment = None
        if moment is None:
            raise CallbackError(f"field '{name}' must be a date and time such as '2026-11-27 10:15:03' or ISO 8601")
        try:
            if timezone.is_naive(moment):
                moment = timezone.make_aware(moment, ZoneInfo(settings.AT_TIMEZONE))
            moment.astimezone(UTC)  # 0001-01-01T00:00:00+05:00 is before the first instant a database holds
        except OverflowError:
            raise CallbackError(f"field '{name}' is out of range") from None
        return moment

    def phone(self, name: str, *, required: bool = False) -> tuple[str, str]:
        """A phone number as given (it may be a SIP address) and its E.164 form or ""."""
        given = self.text(name, required=required, max_length=128)
        return given, (normalize_phone(given) or "") if given else ""
