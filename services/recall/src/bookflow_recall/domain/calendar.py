"""A tenant's days: which calendar day an instant falls on in the tenant's zone, when a day
starts, and adding days, weeks or months to a day.

Book-again and recall count in days (D1: "after N days, weeks or months, counted from the day it
is set"; E2–E4: recall dates, run offset, steps N days after). A tenant whose `day_length` is
shorter than a day (allowed in development mode only) lives on a faster calendar: day 0 is the
day of `origin` and each later day starts `day_length` after the one before, so a test or a
demonstration walks months of recalls in seconds with the same rules.
"""
from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

ONE_DAY = timedelta(days=1)

Unit = Literal["days", "weeks", "months"]
UNITS: tuple[str, ...] = Unit.__args__


def add(day: date, count: int, unit: Unit) -> date:
    """`day` plus `count` days, weeks or months; a month later than 31 January is the last day of
    February (the day is clamped to the month's length)."""
    if unit == "days":
        return day + timedelta(days=count)
    if unit == "weeks":
        return day + timedelta(weeks=count)
    months = day.year * 12 + day.month - 1 + count
    year, month = divmod(months, 12)
    month += 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


@dataclass(frozen=True)
class TenantCalendar:
    """The days of one tenant: its zone, and (for fast demonstration tenants) its day length."""

    zone: ZoneInfo
    day_length: timedelta = ONE_DAY
    origin: datetime | None = None
    """When `day_length` is not a day: the instant the tenant's fast calendar started."""

    @property
    def scaled(self) -> bool:
        return self.day_length != ONE_DAY and self.origin is not None

    def day_of(self, instant: datetime) -> date:
        """The tenant's calendar day at `instant`."""
        if not self.scaled:
            return instant.astimezone(self.zone).date()
        assert self.origin is not None
        return self._origin_day + timedelta(days=(instant - self.origin) // self.day_length)

    def start_of(self, day: date) -> datetime:
        """The instant `day` begins in the tenant's calendar."""
        if not self.scaled:
            return datetime.combine(day, time(0), self.zone)
        assert self.origin is not None
        return self.origin + (day - self._origin_day).days * self.day_length

    def next_day_starts(self, instant: datetime) -> datetime:
        """When the day after `instant`'s day begins."""
        return self.start_of(self.day_of(instant) + ONE_DAY)

    def later(self, instant: datetime, count: int, unit: Unit) -> tuple[date, datetime]:
        """The day `count` units after `instant`'s day, and the instant on it at the same time of
        day as `instant` (D1: set on the 3rd at 14:20 for 2 weeks, sent on the 17th at 14:20)."""
        today = self.day_of(instant)
        day = add(today, count, unit)
        if not self.scaled:
            local = instant.astimezone(self.zone)
            return day, datetime.combine(day, local.timetz().replace(tzinfo=None), self.zone)
        return day, instant + (day - today).days * self.day_length

    @property
    def _origin_day(self) -> date:
        assert self.origin is not None
        return self.origin.astimezone(self.zone).date()
