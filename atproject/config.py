"""Reading settings from the environment: every value parsed once, at start-up, or the start refused.

`settings.py` reads each variable through `Env`. A value that cannot be used
(`AT_AIRTIME_MAX_AMOUNT=KES=10O0`, `AT_TRUSTED_PROXIES=10.0.0.0/33`) raises
`ImproperlyConfigured` naming the variable and what it expects, so that
`manage.py check`, the web server and the worker all stop before serving
anything, instead of answering 500 to every request that reads it.

An empty value (`AT_SPOOL_DIR=` in a copied `.env.example`) means the default.
"""

from __future__ import annotations

import ipaddress
import os
import re
from decimal import Decimal, InvalidOperation
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.core.exceptions import ImproperlyConfigured

#: The largest amount a money column (18 digits, 4 of them decimals) holds.
MONEY_LIMIT = Decimal("1e14")
_CURRENCY = re.compile(r"^[A-Z]{3}$")
_RATE = re.compile(r"^\s*(\d+)\s*/\s*(s|sec|second|m|min|minute|h|hour|d|day)\s*$", re.IGNORECASE)
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def refuse(name: str, value, expected: str) -> ImproperlyConfigured:
    shown = value if len(str(value)) <= 80 else str(value)[:77] + "..."
    return ImproperlyConfigured(f"{name}={shown!r} is not valid: expected {expected}.")


def parse_currency(text: str) -> str | None:
    """A 3-letter ISO 4217 code in capitals (ASCII only: "KÉS" is not one), or None."""
    text = str(text).strip()
    if not text.isascii():  # some non-ASCII letters upper-case to ASCII ones: only ASCII letters make a code
        return None
    code = text.upper()
    return code if _CURRENCY.match(code) else None


_PLAIN_DECIMAL = re.compile(r"^\d+(\.\d+)?$")


def parse_amount(text) -> Decimal | None:
    """A positive amount in plain decimals ("10", "10.50"; not "1e3"), at most 4 decimal places,
    that a money column holds; or None."""
    text = str(text).strip()
    if not _PLAIN_DECIMAL.match(text):
        return None
    try:
        amount = Decimal(text)
    except InvalidOperation:
        return None
    if not amount.is_finite() or amount <= 0 or amount >= MONEY_LIMIT or -amount.as_tuple().exponent > 4:
        return None
    return amount


def parse_money_limits(name: str, text: str) -> dict[str, Decimal]:
    """ "KES=1000,UGX=30000" → {"KES": Decimal("1000"), "UGX": Decimal("30000")}.

    Every currency is named: a limit that applied to "any other currency" let
    every typed code (and typos) have an allowance of its own.
    """
    expected = "CURRENCY=AMOUNT pairs separated by commas, such as KES=1000,UGX=30000"
    limits: dict[str, Decimal] = {}
    for item in str(text).split(","):
        if not item.strip():
            continue
        code, sep, value = item.partition("=")
        currency, amount = parse_currency(code), parse_amount(value)
        if not sep or currency is None or amount is None or currency in limits:
            raise refuse(name, text, expected)
        limits[currency] = amount
    return limits


def parse_networks(name: str, values) -> tuple:
    """CIDRs ("10.0.0.0/8", "2001:db8::/32", "127.0.0.1") as ip_network objects."""
    networks = []
    for value in values:
        value = str(value).strip()
        if not value:
            continue
        try:
            networks.append(ipaddress.ip_network(value, strict=False))
        except ValueError:
            raise refuse(name, value, "IP networks such as 10.0.0.0/8 or 2001:db8::/32, comma-separated") from None
    return tuple(networks)


class Env:
    """Typed reads of environment variables; each raises ImproperlyConfigured naming the variable."""

    def __init__(self, environ=None):
        self.environ = os.environ if environ is None else environ

    def raw(self, name: str) -> str | None:
        value = self.environ.get(name)
        return None if value is None or value.strip() == "" else value

    def str(self, name: str, default: str = "") -> str:
        value = self.environ.get(name)
        return default if value is None else value

    def bool(self, name: str, default: bool) -> bool:
        value = self.raw(name)
        if value is None:
            return default
        if value.strip().lower() in _TRUE:
            return True
        if value.strip().lower() in _FALSE:
            return False
        raise refuse(name, value, "true or false")

    def int(self, name: str, default: int | None, *, minimum: int | None = None, maximum: int | None = None):
        value = self.raw(name)
        if value is None:
            return default
        try:
            number = int(value.strip())
        except ValueError:
            raise refuse(name, value, _range("a whole number", minimum, maximum)) from None
        if (minimum is not None and number < minimum) or (maximum is not None and number > maximum):
            raise refuse(name, value, _range("a whole number", minimum, maximum))
        return number

    def float(self, name: str, default: float, *, minimum: float = 0.0, maximum: float | None = None) -> float:
        value = self.raw(name)
        if value is None:
            return default
        try:
            number = float(value.strip())
        except ValueError:
            raise refuse(name, value, _range("a number", minimum, maximum)) from None
        if number != number or number < minimum or (maximum is not None and number > maximum):
            raise refuse(name, value, _range("a number", minimum, maximum))
        return number

    def list(self, name: str, default: list | None = None) -> list[str]:
        value = self.raw(name)
        if value is None:
            return list(default or [])
        return [item.strip() for item in value.split(",") if item.strip()]

    def choice(self, name: str, default: str, choices) -> str:
        value = self.raw(name)
        if value is None:
            return default
        if value.strip() not in choices:
            raise refuse(name, value, "one of " + ", ".join(choices))
        return value.strip()

    def zone(self, name: str, default: str) -> str:
        value = (self.raw(name) or default).strip()
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise refuse(name, value, "a time zone name such as Africa/Nairobi or UTC") from None
        return value

    def networks(self, name: str) -> list[str]:
        values = self.list(name)
        parse_networks(name, values)
        return values

    def money_limits(self, name: str, default: str) -> dict[str, Decimal]:
        return parse_money_limits(name, self.raw(name) or default)

    def rate(self, name: str, default: str) -> str:
        value = self.raw(name) or default
        if not _RATE.match(value):
            raise refuse(name, value, "a number of requests per period, such as 60/min, 1000/hour or 5/s")
        return value.strip()

    def country_code(self, name: str) -> str:
        value = (self.raw(name) or "").strip().lstrip("+")
        if value and not (value.isascii() and value.isdigit() and 1 <= len(value) <= 3):
            raise refuse(name, value, "a country calling code of 1 to 3 digits, such as 254")
        return value

    def url(self, name: str) -> str:
        value = (self.raw(name) or "").strip().rstrip("/")
        if value and not re.match(r"^https?://[^\s/?#]+(/[^\s?#]*)?$", value):
            raise refuse(name, value, "an http:// or https:// URL without a query, such as http://127.0.0.1:8002")
        return value

    def urls(self, name: str) -> list[str]:
        """Comma-separated http(s) URLs."""
        values = self.list(name)
        for value in values:
            if not re.match(r"^https?://[^\s/?#]+", value):
                raise refuse(name, value, "http:// or https:// URLs, comma-separated")
        return values

    def emails(self, name: str) -> list[str]:
        values = self.list(name)
        for value in values:
            if not re.match(r"^[^@\s,]+@[^@\s,]+\.[^@\s,]+$", value):
                raise refuse(name, value, "e-mail addresses, comma-separated")
        return values

    def email_url(self, name: str, default: str) -> dict:
        """Django's EMAIL_* settings from a URL (django-environ): smtp+tls://user:pass@host:587, consolemail://,
        filemail:///path."""
        import environ

        value = (self.raw(name) or default).strip()
        try:
            config = environ.Env.email_url_config(value)
        except Exception:
            config = {}
        if not config.get("EMAIL_BACKEND"):
            raise refuse(name, "<hidden>" if "@" in value else value,
                         "a mail URL such as smtp+tls://user:password@host:587, consolemail:// or filemail:///path")
        return config

    def redis_url(self, name: str, default: str) -> str:
        """redis://[user:password@]host[:port][/db], rediss:// (TLS) or unix:///path/to/redis.sock[?db=N]."""
        from urllib.parse import parse_qs, urlsplit

        value = (self.raw(name) or default).strip()
        expected = "a Redis URL such as redis://127.0.0.1:6379/0 (rediss:// for TLS, unix:///path/to/redis.sock)"
        shown = re.sub(r"//[^@/]*@", "//<hidden>@", value)  # never print a password
        try:
            url = urlsplit(value)
            port = url.port  # raises ValueError when it is not a number from 0 to 65535
            db = url.path.strip("/") if url.scheme != "unix" else parse_qs(url.query).get("db", ["0"])[0]
        except ValueError:
            raise refuse(name, shown, expected) from None
        if url.scheme in ("redis", "rediss"):
            valid = bool(url.hostname) and port != 0 and (db == "" or db.isdigit()) and not url.fragment
        else:
            valid = url.scheme == "unix" and bool(url.path) and not url.netloc and db.isdigit()
        if not valid or any(c.isspace() for c in value):
            raise refuse(name, shown, expected)
        return value

    def phone(self, name: str) -> str:
        value = (self.raw(name) or "").strip()
        if value and not re.match(r"^\+[1-9]\d{6,14}$", value):
            raise refuse(name, value, "a phone number in international form, such as +254711082000")
        return value


def _range(what: str, minimum, maximum) -> str:
    if minimum is not None and maximum is not None:
        return f"{what} from {minimum} to {maximum}"
    if minimum is not None:
        return f"{what} of at least {minimum}"
    return what
