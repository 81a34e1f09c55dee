"""Durable timers: commands to the scheduler on `timer.requests` and the `reminder.due` it fires.

A timer key starts with its owner, so each service that consumes `reminder.due` knows its own:
`booking:<booking id>:<kind>`, `checkin:<booking id>:<kind>`, `recall:<recall id>:<step>`,
`book-again:<reminder id>`. Commands are keyed by the key's first two parts, so setting and
cancelling one subject's timers stay in order.
"""

from __future__ import annotations

from typing import Any

from pydantic import AwareDatetime, Field

from bookflow_contracts import topics
from bookflow_contracts.envelope import Message

_KEY = r"^[a-z][a-z0-9-]*:\S+$"  # `owner:…`, no blanks


def timer_subject(timer_key: str) -> str:
    """The part of a timer key up to its second colon: `booking:123:reminder` -> `booking:123`."""
    return ":".join(timer_key.split(":")[:2])


def timer_owner(timer_key: str) -> str:
    """Who set the timer: the key's first part (`booking`, `checkin`, `recall`, `book-again`)."""
    return timer_key.split(":", 1)[0]


def reminder_keys(*owners: str) -> tuple[str, ...]:
    """The record keys of `reminder.due` records for these owners' timers, as prefixes: a
    record's key is its timer's subject, which starts with the owner. Consumers pass the rest
    over without reading them (a rush of 100,000 reminders is booking's, not recall's)."""
    return tuple(f"{owner}:" for owner in owners)


class SetTimer(Message):
    """Set a timer; setting the same key again reschedules it (the old instant never fires)."""

    message_type = "timer.set"
    topic = topics.TIMER_REQUESTS

    timer_key: str = Field(min_length=1, max_length=300, pattern=_KEY,
                           description="Owner first, such as `booking:123:confirm-reminder`.")
    due_at: AwareDatetime = Field(description="When to fire.")
    payload: dict[str, Any] = Field(default_factory=dict, description="Handed back unchanged in `reminder.due`.")

    def ordering_key(self) -> str:
        return timer_subject(self.timer_key)


class CancelTimer(Message):
    """Cancel one timer by key; cancelling an unknown or fired timer changes nothing."""

    message_type = "timer.cancel"
    topic = topics.TIMER_REQUESTS

    timer_key: str = Field(min_length=1, max_length=300, description="The key the timer was set with.")

    def ordering_key(self) -> str:
        return timer_subject(self.timer_key)


class CancelTimersWithPrefix(Message):
    """Cancel every pending timer whose key starts with `prefix`, such as all of one booking's."""

    message_type = "timer.cancel-prefix"
    topic = topics.TIMER_REQUESTS

    prefix: str = Field(min_length=3, max_length=300, description="Key prefix, such as `booking:123:`.")

    def ordering_key(self) -> str:
        return timer_subject(self.prefix)


class ReminderDue(Message):
    """A timer reached its instant. Consumers handle only their own keys (see `timer_owner`) and
    check that what the timer was for still holds."""

    message_type = "reminder.due"
    topic = topics.REMINDER_DUE

    timer_key: str = Field(description="The key the timer was set with.")
    payload: dict[str, Any] = Field(default_factory=dict, description="What the requester gave when setting it.")
    due_at: AwareDatetime = Field(description="The instant it was set for.")
    fired_at: AwareDatetime = Field(description="When the scheduler fired it.")
    lateness_ms: int = Field(ge=0, description="fired_at minus due_at in milliseconds (0 if early); may exceed 32 bits.")

    def ordering_key(self) -> str:
        return timer_subject(self.timer_key)


__all__ = ["CancelTimer", "CancelTimersWithPrefix", "ReminderDue", "SetTimer", "reminder_keys", "timer_owner", "timer_subject"]
