"""Timers handed back in batches (issue 17, the 18:00 rush): tens of thousands of day-before
reminders come due at one instant, and each one asked the database three or four questions of
its own. Here a batch of `reminder.due` costs one query for the tenants, one for all the bookings
(locked), one outbox insert and one insert of the reminders received, whatever its size.

The decisions are `handlers.reminder_due`'s: a reminder acts only if the booking is still in the
state and version it was set for. Reminders that change a booking's state (`release`,
`booking-reminder`) are rarer and go through that handler one by one, in the same transaction."""
from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from bookflow_booking import domain, handlers, storage
from bookflow_contracts import Envelope, Message, ReminderDue, timer_owner
from bookflow_runtime import outbox
from bookflow_runtime.errors import Undeliverable
from bookflow_runtime.loop import in_turns

_log = logging.getLogger(__name__)
IN_BULK = ("reminder", "confirm-reminder", "appointment-reminder")
"""Kinds that change no booking (they ask for messages, or are only recorded): handled for the
whole batch at once."""


@dataclass(frozen=True)
class _Due:
    event: ReminderDue
    envelope: Envelope
    kind: str
    booking_id: uuid.UUID


async def reminders_due(session: AsyncSession, items: list[tuple[ReminderDue, Envelope]], *, deps: handlers.Deps) -> None:
    """Handle consecutive `reminder.due` messages together; the same outcome as handling each
    with `handlers.reminder_due`. An unknown tenant fails the batch, and the consumer then
    handles its messages one by one, so that only that tenant's are dead-lettered."""
    ours = [(event, env) for event, env in items if timer_owner(event.timer_key) == "booking"]
    tenants = await storage.tenants_by_id(session, {env.tenant_id for _, env in ours})
    unknown = next((env for _, env in ours if env.tenant_id not in tenants), None)
    if unknown is not None:
        raise Undeliverable("unknown-tenant", f"a reminder for tenant {unknown.tenant_id!r}, which the booking service does not have")
    in_bulk, one_by_one = [], []
    for event, env in ours:
        due = _readable(event, env)
        if due is None:
            continue
        (in_bulk if due.kind in IN_BULK else one_by_one).append(due)
    if in_bulk:
        await _ask(session, in_bulk, tenants, deps)
    for due in one_by_one:
        await handlers.reminder_due(session, due.event, due.envelope, deps=deps)


def _readable(event: ReminderDue, envelope: Envelope) -> _Due | None:
    """The reminder's kind and booking, or None (logged) when it names neither as we set them."""
    kind = event.payload.get("kind")
    if kind not in handlers.REMINDER_KINDS:
        _log.warning("reminder %s of unknown kind %r", event.timer_key, kind)
        return None
    try:
        return _Due(event, envelope, kind, uuid.UUID(str(event.payload.get("booking_id"))))
    except ValueError:
        _log.warning("reminder %s names no booking", event.timer_key)
        return None


async def _ask(session: AsyncSession, batch: list[_Due], tenants: dict[str, domain.Tenant], deps: handlers.Deps) -> None:
    """The batch's bookings in one locked query, its messages in one outbox insert, its arrivals in one insert."""
    found = await storage.bookings_locked(session, [(d.envelope.tenant_id, d.booking_id) for d in batch])
    asked: list[tuple[Envelope, str]] = []
    received: list[_Due] = []
    async for due in in_turns(batch):
        booking = found.get((due.envelope.tenant_id, due.booking_id))
        if booking is None:
            _log.warning("reminder %s for unknown booking %s", due.event.timer_key, due.booking_id)
            continue
        if due.kind == "reminder":
            pass  # an explicit `reminder_at`: its arrival is recorded, nothing is sent
        elif domain.still_meant(booking, due.event.payload):
            tenant = tenants[due.envelope.tenant_id]
            messages = (domain.reminder_due(booking, tenant, due.kind, due.event.due_at, deps.my_pages_url(booking))
                        if due.kind == "confirm-reminder" else [domain.appointment_reminder(booking, tenant)])
            asked += [(_caused_by(m, due.envelope), m.topic) for m in messages]
        else:
            _log.info("reminder %s is stale: booking %s is %s (v%s)", due.event.timer_key, booking.id, booking.state, booking.version)
        received.append(due)
    await outbox.put_many(session, asked)
    await storage.add_reminders_received(session, [
        (d.booking_id, d.event.timer_key, d.event.due_at, d.event.fired_at, d.event.lateness_ms) for d in received])


def _caused_by(message: Message, cause: Envelope) -> Envelope:
    """`message` in an envelope of the conversation the reminder belongs to, as `outbox.put` does for one."""
    return Envelope.wrap(message, tenant_id=cause.tenant_id, occurred_at=datetime.now(UTC), correlation_id=cause.correlation_id,
                         causation_id=str(cause.event_id))
