"""The one phone-number normaliser: everything sent to AT is E.164.

Inbound numbers are stored as AT gave them (they may be SIP addresses or
withheld) next to their E.164 form when they have one.
"""

import re

from django.conf import settings

_E164 = re.compile(r"^\+[1-9]\d{6,14}$")
_SEPARATORS = re.compile(r"[\s\-().]")


def normalize_phone(value, default_country_code: str | None = None) -> str | None:
    """Return `value` as an E.164 number ("+254711000000"), or None if it is not one.

    Accepted: "+254 711 000 000", "00254711000000", "254711000000" (international
    digits without the plus, as the reference app's `phone=` query parameter), and
    a local "0711000000" only when a default country code is configured
    (AT_DEFAULT_COUNTRY_CODE, or the `default_country_code` argument).
    """
    if value is None:
        return None
    number = _SEPARATORS.sub("", str(value))
    if number.startswith("00"):
        number = "+" + number[2:]
    elif number.startswith("0"):
        country = default_country_code
        if country is None:
            country = settings.AT_DEFAULT_COUNTRY_CODE
        country = (country or "").lstrip("+")
        if not country:
            return None
        number = "+" + country + number[1:]
    elif not number.startswith("+"):
        number = "+" + number
    return number if _E164.match(number) else None
