"""Book-again reminders and their history: every query on them."""
from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from bookflow_recall.domain.book_again import ACTIVE, Reminder
from bookflow_recall.storage.tables import book_again_events, book_again_reminders
from bookflow_recall.views import ReminderEvent, ReminderView

R = book_again_reminders
_REMINDER = (R.c.id, R.c.tenant_id, R.c.customer_id, R.c.booking_id, R.c.service, R.c.after, R.c.unit, R.c.set_at, R.c.due_at,
             R.c.state, R.c.sent_at, R.c.delivery_status)


def _reminder(row: Any) -> Reminder:
    return Reminder(*row)


async def insert(session: AsyncSession, reminder: Reminder, set_by: str) -> None:
    await session.execute(sa.insert(R).values(
        id=reminder.id, tenant_id=reminder.tenant_id, customer_id=reminder.customer_id, booking_id=reminder.booking_id,
        service=reminder.service, after=reminder.after, unit=reminder.unit, set_at=reminder.set_at, set_by=set_by,
        due_at=reminder.due_at, state=reminder.state, updated_at=reminder.set_at,
    ))


async def add_event(session: AsyncSession, reminder_id: uuid.UUID, at: datetime, kind: str, detail: str | None = None,
                    booking_id: uuid.UUID | None = None) -> None:
    await session.execute(sa.insert(book_again_events).values(reminder_id=reminder_id, at=at, kind=kind, detail=detail,
                                                              booking_id=booking_id))


async def active_of_customer(session: AsyncSession, tenant_id: str, customer_id: uuid.UUID) -> Reminder | None:
    """The customer's active reminder, locked for the caller's transaction."""
    row = (await session.execute(sa.select(*_REMINDER).where(
        R.c.tenant_id == tenant_id, R.c.customer_id == customer_id, R.c.state.in_(ACTIVE)).with_for_update())).first()
    return _reminder(row) if row else None


async def withdrawable_of_customer(session: AsyncSession, tenant_id: str, customer_id: uuid.UUID) -> list[Reminder]:
    """The customer's reminders whose SMS was asked for and has not gone out yet, locked."""
    rows = await session.execute(sa.select(*_REMINDER).where(
        R.c.tenant_id == tenant_id, R.c.customer_id == customer_id, R.c.state == "sent",
        sa.or_(R.c.delivery_status.is_(None), R.c.delivery_status == "queued")).with_for_update())
    return [_reminder(row) for row in rows]


async def active_from_booking(session: AsyncSession, tenant_id: str, booking_id: uuid.UUID) -> list[Reminder]:
    rows = await session.execute(sa.select(*_REMINDER).where(
        R.c.tenant_id == tenant_id, R.c.booking_id == booking_id, R.c.state.in_(ACTIVE)).with_for_update())
    return [_reminder(row) for row in rows]


async def get(session: AsyncSession, tenant_id: str, reminder_id: uuid.UUID, *, lock: bool = False) -> Reminder | None:
    query = sa.select(*_REMINDER).where(R.c.id == reminder_id, R.c.tenant_id == tenant_id)
    row = (await session.execute(query.with_for_update() if lock else query)).first()
    return _reminder(row) if row else None


async def cancel(session: AsyncSession, reminder_id: uuid.UUID, reason: str, at: datetime, booking_id: uuid.UUID | None = None) -> None:
    await session.execute(sa.update(R).where(R.c.id == reminder_id).values(
        state="cancelled", cancel_reason=reason, cancelled_at=at, updated_at=at))
    await add_event(session, reminder_id, at, "cancelled", reason, booking_id)


async def mark_due(session: AsyncSession, reminder_id: uuid.UUID, at: datetime) -> None:
    await session.execute(sa.update(R).where(R.c.id == reminder_id).values(state="due", updated_at=at))
    await add_event(session, reminder_id, at, "due")


async def mark_sent(session: AsyncSession, reminder_id: uuid.UUID, at: datetime) -> None:
    await session.execute(sa.update(R).where(R.c.id == reminder_id).values(state="sent", sent_at=at, delivery_status="queued",
                                                                         updated_at=at))
    await add_event(session, reminder_id, at, "sent", "one SMS asked for")


async def claim_due(session: AsyncSession, until: datetime, limit: int) -> list[Reminder]:
    """Due reminders whose instant is on or before `until`, locked; those another replica holds
    are skipped, so each is decided once."""
    rows = await session.execute(sa.select(*_REMINDER).where(R.c.state == "due", R.c.due_at <= until)
                                 .order_by(R.c.due_at).limit(limit).with_for_update(skip_locked=True))
    return [_reminder(row) for row in rows]


async def waiting_count(session: AsyncSession) -> int:
    return (await session.execute(sa.select(sa.func.count()).select_from(R).where(R.c.state == "due"))).scalar_one()


_HISTORY = ("delivered", "failed", "suppressed", "withdrawn")
"""Statuses that join a reminder's history (queued and sent are only kept as its current status)."""
_RANK = {"queued": 0, "sent": 1, "delivered": 2, "failed": 2, "suppressed": 2, "withdrawn": 2}


async def record_delivery(session: AsyncSession, tenant_id: str, reminder_id: uuid.UUID, status: str, at: datetime, *,
                          reason: str | None, cost: Decimal | None, currency: str | None, payer: str | None,
                          segments: int | None) -> bool:
    """A status of the reminder's SMS: kept unless a later stage is already kept (a `sent` that
    arrives after `delivered` changes nothing); cost, payer and segments are kept whenever given.
    The history gets every status once. False if the reminder is not this tenant's."""
    row = (await session.execute(sa.select(R.c.delivery_status, R.c.delivery_at).where(
        R.c.id == reminder_id, R.c.tenant_id == tenant_id).with_for_update())).first()
    if row is None:
        return False
    values: dict[str, Any] = {"updated_at": sa.func.now()}
    kept_rank = _RANK.get(row.delivery_status or "queued", 0)
    if _RANK.get(status, 0) > kept_rank or (_RANK.get(status, 0) == kept_rank and (row.delivery_at is None or at >= row.delivery_at)):
        values.update(delivery_status=status, delivery_at=at, delivery_reason=reason)
    for name, value in (("cost", cost), ("currency", currency), ("payer", payer), ("segments", segments)):
        if value is not None:
            values[name] = value
    await session.execute(sa.update(R).where(R.c.id == reminder_id).values(**values))
    if status not in _HISTORY:
        return True
    already = (await session.execute(sa.select(sa.func.count()).select_from(book_again_events).where(
        book_again_events.c.reminder_id == reminder_id, book_again_events.c.kind == status))).scalar_one()
    if not already:
        detail = reason
        if status == "delivered" and cost is not None:
            detail = f"{cost} {currency or ''} billed to {payer or 'the tenant'}".replace("  ", " ")
        await add_event(session, reminder_id, at, status, detail)
    return True


# --- what staff see --------------------------------------------------------------------------


async def views(session: AsyncSession, tenant_id: str, customer_id: uuid.UUID) -> list[ReminderView]:
    """Every reminder of the customer, newest first, with its history."""
    rows = (await session.execute(sa.select(R).where(R.c.tenant_id == tenant_id, R.c.customer_id == customer_id)
                                  .order_by(R.c.set_at.desc()))).all()
    if not rows:
        return []
    events = (await session.execute(
        sa.select(book_again_events).where(book_again_events.c.reminder_id.in_([r.id for r in rows]))
        .order_by(book_again_events.c.at, book_again_events.c.id))).all()
    by_reminder: dict[uuid.UUID, list[ReminderEvent]] = {}
    for e in events:
        by_reminder.setdefault(e.reminder_id, []).append(ReminderEvent(at=e.at, kind=e.kind, detail=e.detail, booking_id=e.booking_id))
    return [
        ReminderView(
            id=r.id, customer_id=r.customer_id, booking_id=r.booking_id, service=r.service, after=r.after, unit=r.unit,
            set_at=r.set_at, set_by=r.set_by, send_at=r.due_at, state=r.state, active=r.state in ACTIVE,
            cancel_reason=r.cancel_reason, cancelled_at=r.cancelled_at, sent_at=r.sent_at, delivery_status=r.delivery_status,
            delivered_at=r.delivery_at if r.delivery_status == "delivered" else None, delivery_reason=r.delivery_reason,
            cost=r.cost, currency=r.currency, payer=r.payer, segments=r.segments,
            bookings_via_link=[e.booking_id for e in by_reminder.get(r.id, []) if e.kind == "booked-via-link" and e.booking_id],
            history=by_reminder.get(r.id, []),
        )
        for r in rows
    ]
