"""What the recall service does, one function per command, event or staff action, by area:
`projection` (other services' events), `book_again` (flow D), `recall` (flow E), `evaluation`
(the daily run of recall steps)."""
from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from bookflow_recall.settings import RecallSettings
from bookflow_runtime.loop import Wakeup


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Deps:
    """What handlers need beyond the session: settings, the clock, and the signals that wake
    the service's loops once a transaction has committed."""

    settings: RecallSettings
    clock: Callable[[], datetime] = _now
    replica: str = field(default_factory=lambda: uuid.uuid4().hex)
    sending: Wakeup = field(default_factory=Wakeup)
    """Wakes the book-again sender (a reminder fell due)."""
    evaluating: Wakeup = field(default_factory=Wakeup)
    """Wakes the recall evaluation (settings, templates or recalls changed)."""
