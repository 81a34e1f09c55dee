"""How many SMS segments a text costs, exactly as the network splits it.

A text written only in the GSM 03.38 alphabet travels as 7-bit septets: 160 in one SMS, 153 per
segment once split (the user-data header takes the rest). Characters of the extension table
(`€ [ ] { } \\ ^ ~ |` and form feed) cost two septets, an escape and the character, and a
segment never ends between the two. Any other character (emoji, Polish ł, typographic quotes)
makes the whole text UCS-2: 70 UTF-16 units in one SMS, 67 per segment, and a surrogate pair is
never split. The Nordic letters Å Ä Ö Æ Ø and é, ü are in the basic GSM alphabet.
Source: 3GPP TS 23.038 section 6.2.1 (alphabet) and TS 23.040 section 9.2.3.24 (concatenation).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

GSM_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM_EXTENSION = frozenset("\f^{}\\[~]|€")

SINGLE = {"gsm-7": 160, "ucs-2": 70}
PER_SEGMENT = {"gsm-7": 153, "ucs-2": 67}


@dataclass(frozen=True)
class SmsSize:
    """A text's encoding, its length in the encoding's units, and its segment count."""

    encoding: Literal["gsm-7", "ucs-2"]
    units: int
    segments: int


def _unit_widths(text: str) -> tuple[Literal["gsm-7", "ucs-2"], list[int]]:
    """Each character's width in the text's encoding: septets, or UTF-16 code units."""
    if all(ch in GSM_BASIC or ch in GSM_EXTENSION for ch in text):
        return "gsm-7", [2 if ch in GSM_EXTENSION else 1 for ch in text]
    return "ucs-2", [len(ch.encode("utf-16-le")) // 2 for ch in text]


def measure(text: str) -> SmsSize:
    """The encoding, size and exact segment count of `text` (an empty text is one segment)."""
    encoding, widths = _unit_widths(text)
    units = sum(widths)
    if units <= SINGLE[encoding]:
        return SmsSize(encoding, units, 1)
    limit, segments, filled = PER_SEGMENT[encoding], 1, 0
    for width in widths:  # greedy fill: an escape pair or surrogate pair moves whole to the next segment
        if filled + width > limit:
            segments, filled = segments + 1, 0
        filled += width
    return SmsSize(encoding, units, segments)
