"""Timer rules, free of I/O: the stable id of a firing and the `reminder.due` it becomes."""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bookflow_contracts import ReminderDue

_FIRING_NAMESPACE = uuid.UUID("6c1d2f0e-4b8a-4f5e-9d33-0b6f1a7e2c10")


@dataclass(frozen=True)
class DueTimer:
    """A pending timer whose instant has come."""

    id: int
    tenant_id: str
    timer_key: str
    due_at: datetime
    payload: dict[str, Any]
    generation: int
    correlation_id: str | None = None
    set_by_event_id: str | None = None


def firing_event_id(timer: DueTimer) -> uuid.UUID:
    """The same firing of the same timer always has the same event id, so a firing published
    twice (a crash between publish and mark) is one event to every consumer's inbox. A
    reschedule bumps the generation and so gets a new id."""
    return uuid.uuid5(_FIRING_NAMESPACE, f"{timer.tenant_id}:{timer.id}:{timer.generation}")


def reminder_for(timer: DueTimer, fired_at: datetime) -> ReminderDue:
    """The `reminder.due` a timer becomes when fired at `fired_at`."""
    lateness = max(0, int((fired_at - timer.due_at).total_seconds() * 1000))
    return ReminderDue(
        timer_key=timer.timer_key,
        payload=timer.payload,
        due_at=timer.due_at,
        fired_at=fired_at,
        lateness_ms=lateness,
    )
