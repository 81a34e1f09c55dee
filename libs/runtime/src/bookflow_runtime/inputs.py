"""Bounded input types for HTTP bodies, query and path parameters, written once: every text has a
maximum length and refuses control characters (a NUL reaches PostgreSQL as an error, a lone
surrogate cannot be encoded), every number and date a range.

    name: Line(200)            # one line of text, at most 200 characters
    remark: Paragraph(2000)    # text that may hold line breaks and tabs
    sequence: Annotated[int, Field(ge=0, le=10_000)]
    day: Day                   # a calendar date between 2000 and 2100
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from typing import Annotated, Any

from pydantic import AfterValidator, AwareDatetime, BeforeValidator, Field, PlainSerializer, StringConstraints, WithJsonSchema

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")
_LINE_BREAKS = re.compile(r"[\r\n\t]")


def _printable(text: str) -> str:
    if _CONTROL.search(text):
        raise ValueError("must not contain control characters")
    return text


def _one_line(text: str) -> str:
    if _LINE_BREAKS.search(text):
        raise ValueError("must be one line")
    return _printable(text)


def Line(max_length: int, *, min_length: int = 0) -> Any:  # noqa: N802 (reads as a type)
    """One line of text: no control characters, no line breaks, surrounding blanks stripped."""
    return Annotated[str, StringConstraints(strip_whitespace=True, min_length=min_length, max_length=max_length), AfterValidator(_one_line)]


def Paragraph(max_length: int, *, min_length: int = 0) -> Any:  # noqa: N802
    """Text that may hold line breaks and tabs, but no other control characters."""
    return Annotated[str, StringConstraints(min_length=min_length, max_length=max_length), AfterValidator(_printable)]


EARLIEST, LATEST = date(2000, 1, 1), date(2100, 12, 31)


def _plausible_day(day: date) -> date:
    if not EARLIEST <= day <= LATEST:
        raise ValueError(f"must be between {EARLIEST} and {LATEST}")
    return day


def _plausible_instant(instant: datetime) -> datetime:
    _plausible_day(instant.date())
    return instant


def _bounded_duration(most: timedelta) -> Any:
    def check(value: timedelta) -> timedelta:
        if value <= timedelta(0) or value > most:
            raise ValueError(f"must be positive and at most {most.days} days")
        return value

    return AfterValidator(check)


Day = Annotated[date, AfterValidator(_plausible_day)]
"""A calendar day between 2000 and 2100."""
Instant = Annotated[AwareDatetime, AfterValidator(_plausible_instant)]
"""A moment with its time zone, between 2000 and 2100."""


def Duration(most: timedelta = timedelta(days=3650)) -> Any:  # noqa: N802
    """A positive ISO 8601 duration (P10D, PT30S) of at most `most`."""
    return Annotated[timedelta, _bounded_duration(most)]


Phone = Annotated[str, StringConstraints(strip_whitespace=True, max_length=32), AfterValidator(_one_line)]
"""A phone number as given (normalised to E.164 where it is used)."""
Email = Annotated[str, StringConstraints(strip_whitespace=True, max_length=254),
                  AfterValidator(_one_line), Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]
"""An e-mail address (its shape; delivery tells the rest)."""


_CLOCK = r"^([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9])?$"


def _clock_time(value: object) -> object:
    if isinstance(value, time) or (isinstance(value, str) and re.match(_CLOCK, value)):
        return value
    raise ValueError("give a local time as HH:MM, such as 18:00")


def _hh_mm(value: time | str) -> str:
    return value if isinstance(value, str) else value.strftime("%H:%M:%S" if value.second else "%H:%M")


ClockTime = Annotated[
    time, BeforeValidator(_clock_time), PlainSerializer(_hh_mm, return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "pattern": _CLOCK, "examples": ["18:00"], "description": "A local time, HH:MM."}),
]
"""A wall-clock time in a tenant's zone, written HH:MM (not a JSON Schema `time`, which needs an
offset: a local time has none)."""
