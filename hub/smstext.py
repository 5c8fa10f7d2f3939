"""How a text travels over GSM: its encoding (GSM-7 or UCS-2), length and number of SMS parts.

Shared by the SMS compose form (parts shown before sending) and USSD screens
(length rules). GSM-7 is the GSM 03.38 default alphabet; characters of its
extension table take two septets; anything else forces UCS-2 for the whole text.
"""

from dataclasses import dataclass

GSM7_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = set("^{}\\[~]|€\f")

# Characters per single SMS, and per part of a concatenated one.
LIMITS = {"GSM-7": (160, 153), "UCS-2": (70, 67)}


@dataclass(frozen=True)
class TextInfo:
    encoding: str  # "GSM-7" or "UCS-2"
    length: int  # septets (GSM-7) or UTF-16 code units (UCS-2)
    parts: int
    #: the characters that force UCS-2, in order of appearance, once each
    ucs2_characters: tuple[str, ...]


def analyse(text: str) -> TextInfo:
    ucs2 = tuple(dict.fromkeys(c for c in text if c not in GSM7_BASIC and c not in GSM7_EXTENSION))
    if ucs2:
        encoding = "UCS-2"
        length = len(text.encode("utf-16-le")) // 2
    else:
        encoding = "GSM-7"
        length = sum(2 if c in GSM7_EXTENSION else 1 for c in text)
    single, per_part = LIMITS[encoding]
    if length == 0:
        parts = 0
    elif length <= single:
        parts = 1
    else:
        parts = -(-length // per_part)
    return TextInfo(encoding, length, parts, ucs2)
