"""What the booking service does, one function per command or event."""
from __future__ import annotations

import logging
import uuid
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from bookflow_booking import domain, storage
from bookflow_contracts import Address, Envelope, ReminderDue
from bookflow_runtime import outbox

_log = logging.getLogger(__name__)


async def create_booking(
    session: AsyncSession,
    tenant_id: str,
    customer: domain.Customer,
    service: str,
    starts_at: datetime,
    ends_at: datetime,
    place: Address | None,
    reminder_at: datetime | None,
) -> domain.Booking:
    """Store a new booking; announce it, ask for the notice and, if asked, a reminder timer."""
    booking = domain.new_booking(customer, service, starts_at, ends_at, place)
    await storage.add_booking(session, tenant_id, booking)
    await outbox.put(session, domain.created_event(booking), tenant_id=tenant_id)
    await outbox.put(session, domain.notice(booking), tenant_id=tenant_id)
    if reminder_at is not None:
        await outbox.put(session, domain.reminder_timer(booking, reminder_at), tenant_id=tenant_id)
    return booking


async def record_reminder(session: AsyncSession, event: ReminderDue, envelope: Envelope) -> None:
    """Note that a booking's reminder came due; reminders for unknown bookings are logged and dropped."""
    try:
        booking_id = uuid.UUID(str(event.payload.get("booking_id")))
    except ValueError:
        _log.info("reminder %s is not about a booking", event.timer_key)
        return
    if not await storage.booking_exists(session, envelope.tenant_id, booking_id):
        _log.warning("reminder %s for unknown booking %s", event.timer_key, booking_id)
        return
    await storage.add_reminder_received(session, booking_id, event.timer_key, event.due_at, event.fired_at, event.lateness_ms)
