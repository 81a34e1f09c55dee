"""Keeping customers out of the logs: phone numbers, e-mail addresses and message texts are never
logged (issue 10.7). Log lines name messages and customers by id; free text that may quote a
customer's details (a provider's error answer, a failure reason) goes through `redact` first."""
from __future__ import annotations

import re

_EMAIL = re.compile(r"[^\s@<>\"']+@[^\s@<>\"']+")
_NUMBER = re.compile(r"(?<![\w:.+-])\+?\d(?:[ \-]?\d){6,}(?![\w:])")


def redact(text: str) -> str:
    """`text` with anything that looks like an e-mail address or a phone number (seven
    digits or more, spaced or not) replaced by `***`."""
    return _NUMBER.sub("***", _EMAIL.sub("***", text))
