"""The conversation a piece of work belongs to, carried in context variables.

A consumed message sets the correlation id and itself as cause; every message written to the
outbox while handling it inherits both, and every log line shows them.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bookflow_contracts import Envelope


@dataclass(frozen=True)
class Conversation:
    """Correlation and causation of the work under way."""

    correlation_id: str
    causation_id: str | None = None
    tenant_id: str | None = None
    event_id: str | None = None


_current: ContextVar[Conversation | None] = ContextVar("bookflow_conversation", default=None)


def current() -> Conversation | None:
    """The conversation under way, if any."""
    return _current.get()


@contextlib.contextmanager
def conversation(
    correlation_id: str | None = None,
    *,
    causation_id: str | None = None,
    tenant_id: str | None = None,
    event_id: str | None = None,
) -> Iterator[Conversation]:
    """Run a block as part of a conversation; a new one when no correlation id is given."""
    conv = Conversation(correlation_id or str(uuid.uuid4()), causation_id, tenant_id, event_id)
    token = _current.set(conv)
    try:
        yield conv
    finally:
        _current.reset(token)


def conversation_of(envelope: Envelope) -> contextlib.AbstractContextManager[Conversation]:
    """The conversation a consumed message belongs to, with the message as the cause of what follows."""
    return conversation(
        envelope.correlation_id, causation_id=envelope.causation_id, tenant_id=envelope.tenant_id, event_id=str(envelope.event_id)
    )
