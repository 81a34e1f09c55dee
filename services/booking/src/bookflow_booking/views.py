"""What staff and customers read, as typed models, each built by one read query: a booking with
its history, replies and reminders; lists of bookings, technicians, slots and freed slots;
replies no order matched; a customer's My page. Reads never change anything."""
from __future__ import annotations

import dataclasses
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Literal

import httpx
import sqlalchemy as sa
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field
from sqlalchemy.dialects import postgresql as pg
from sqlalchemy.ext.asyncio import AsyncSession

from bookflow_booking import domain, page_texts, storage
from bookflow_booking.storage import booking_history, bookings, freed_slots, reminders_received, replies, slots, technicians, tenants
from bookflow_contracts import Address
from bookflow_contracts.parts import BookingFlow, BookingState
from bookflow_runtime.auth import LinkInvalid
from bookflow_runtime.errors import BookflowError, NotFound

FreedReason = Literal["released", "rebooked", "cancelled"]


# --- models ----------------------------------------------------------------------------------


class HistoryEntry(BaseModel):
    from_state: BookingState
    to_state: BookingState
    transition: str = Field(description="Such as `confirm`, `release`, `accept-reply`.")
    actor: str = Field(description="`customer`, `system` or `staff:<id>`.")
    reason: str | None = None
    at: AwareDatetime


class ReplyView(BaseModel):
    reply_id: uuid.UUID
    sender: str = Field(description="The number or address the reply came from.")
    text: str
    code: str | None = Field(None, description="The booking code the reply began with.")
    outcome: str = Field(description="What the reply did, such as `accept-reply: awaiting-response -> ready-for-execution`.")
    received_at: AwareDatetime


class ReminderReceived(BaseModel):
    timer_key: str
    due_at: AwareDatetime
    fired_at: AwareDatetime
    lateness_ms: int = Field(description="How late the scheduler fired it, in milliseconds.")
    received_at: AwareDatetime


class BookingSummary(BaseModel):
    """A booking or work order as lists show it."""

    id: uuid.UUID
    state: BookingState
    flow: BookingFlow
    service: str
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    customer_name: str
    phone: str | None = None
    email: str | None = None
    place: Address | None = None
    technician_id: uuid.UUID | None = None
    sequence: int | None = None
    slot_id: uuid.UUID | None = None
    booking_code: str | None = None
    confirmed: bool = Field(description="Whether the customer (or staff on their word) confirmed the time.")
    state_reason: str | None = None
    hold_until: date | None = None
    rebooked_from: uuid.UUID | None = None
    rebooked_to: uuid.UUID | None = None


class BookingView(BookingSummary):
    """One booking with what happened to it: its history, the customer's replies and the
    reminders that came due."""

    reminders_received: list[ReminderReceived] = Field(default_factory=list)
    history: list[HistoryEntry] = Field(default_factory=list)
    replies: list[ReplyView] = Field(default_factory=list)


class Technician(BaseModel):
    id: uuid.UUID
    name: str


class SlotView(BaseModel):
    id: uuid.UUID
    technician_id: uuid.UUID | None = None
    service: str
    starts_at: AwareDatetime
    ends_at: AwareDatetime


class FreedSlot(BaseModel):
    slot_id: uuid.UUID
    booking_id: uuid.UUID = Field(description="The booking that held it.")
    reason: FreedReason
    freed_at: AwareDatetime
    service: str
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    technician_id: uuid.UUID | None = None
    still_free: bool = Field(description="False once someone booked it again.")


class LoggedMessage(BaseModel):
    """One message of the communication log, as the notification service keeps it."""

    model_config = ConfigDict(extra="allow")
    id: uuid.UUID
    booking_id: uuid.UUID | None = None
    customer_id: uuid.UUID | None = None
    channel: str | None = None
    recipient: str | None = None
    template_key: str | None = None
    status: str | None = None
    reason: str | None = None
    provider: str | None = None
    segments: int | None = None
    cost: float | str | None = None
    currency: str | None = None
    created_at: AwareDatetime | None = None
    sent_at: AwareDatetime | None = None
    delivered_at: AwareDatetime | None = None
    failed_at: AwareDatetime | None = None
    history: list[dict[str, Any]] = Field(default_factory=list, description="Each status with when and why.")


class NotificationServiceUnavailable(BookflowError):
    status = 502
    code = "notification-service-unavailable"
    title = "The notification service did not answer"


# --- bookings --------------------------------------------------------------------------------


def _summary(row: Any) -> dict[str, Any]:
    return {
        "id": row["id"], "state": row["state"], "flow": row["flow"], "service": row["service"], "starts_at": row["starts_at"],
        "ends_at": row["ends_at"], "customer_name": row["name"], "phone": row["phone"], "email": row["email"],
        "place": storage.address_of(row), "technician_id": row["technician_id"], "sequence": row["sequence"],
        "slot_id": row["slot_id"], "booking_code": row["booking_code"], "confirmed": row["state"] in domain.WORK_LIST_STATES,
        "state_reason": row["state_reason"], "hold_until": row["hold_until"], "rebooked_from": row["rebooked_from"],
        "rebooked_to": row["rebooked_to"],
    }


def _json_list(order_by: sa.ColumnElement, where: sa.ColumnElement, **fields: sa.ColumnElement) -> sa.ScalarSelect:
    """A JSON array of one object per row (`fields` by name), in order; `[]` when there is none."""
    row = sa.func.json_build_object(*(part for name, column in fields.items() for part in (sa.literal_column(f"'{name}'"), column)))
    aggregated = sa.func.json_agg(pg.aggregate_order_by(row, order_by))
    return sa.select(sa.func.coalesce(aggregated, sa.literal_column("'[]'::json"))).where(where).scalar_subquery()


async def booking(session: AsyncSession, tenant_id: str, booking_id: uuid.UUID) -> BookingView:
    """The booking with its history, replies and reminders received, in one query; NotFound
    also for another tenant's booking."""
    r, h, p = reminders_received.c, booking_history.c, replies.c
    query = storage.with_customer().add_columns(
        _json_list(r.due_at, r.booking_id == bookings.c.id, timer_key=r.timer_key, due_at=r.due_at, fired_at=r.fired_at,
                   lateness_ms=r.lateness_ms, received_at=r.received_at).label("reminders_received"),
        _json_list(h.id, h.booking_id == bookings.c.id, from_state=h.from_state, to_state=h.to_state, transition=h.transition,
                   actor=h.actor, reason=h.reason, at=h.at).label("history"),
        _json_list(p.received_at, p.booking_id == bookings.c.id, reply_id=p.reply_id, sender=p.sender, text=p.text, code=p.code,
                   outcome=p.outcome, received_at=p.received_at).label("replies"),
    ).where(bookings.c.id == booking_id, bookings.c.tenant_id == tenant_id)
    row = (await session.execute(query)).mappings().first()
    if row is None:
        raise NotFound(f"no booking {booking_id}")
    return BookingView.model_validate(
        _summary(row) | {"reminders_received": row["reminders_received"], "history": row["history"], "replies": row["replies"]})


def _on_local_day(day: date) -> sa.ColumnElement:
    """Bookings starting on `day` in their tenant's zone (the query joins `tenants`)."""
    return sa.cast(sa.func.timezone(tenants.c.time_zone, bookings.c.starts_at), sa.Date) == day


async def bookings_of(session: AsyncSession, tenant_id: str, *, states: tuple[str, ...] = (), technician_id: uuid.UUID | None = None,
                      service: str | None = None, day: date | None = None, limit: int = 500) -> list[BookingSummary]:
    """The tenant's bookings by state, technician, service and local day, in booking order."""
    query = storage.filtered(storage.with_customer().join(tenants, tenants.c.id == bookings.c.tenant_id), tenant_id,
                             states=states, technician_id=technician_id, service=service)
    if day is not None:
        query = query.where(_on_local_day(day))
    return [BookingSummary.model_validate(_summary(r)) for r in (await session.execute(query.limit(limit))).mappings()]


async def work_list(session: AsyncSession, tenant_id: str, technician_id: uuid.UUID, day: date) -> list[BookingSummary]:
    """A technician's day (A5, B8): only bookings the customer confirmed or that are ready for
    execution, in booking order; NotFound for a technician the tenant does not have."""
    technician = sa.select(technicians.c.id).where(technicians.c.id == technician_id, technicians.c.tenant_id == tenant_id)
    query = (storage.filtered(storage.with_customer().join(tenants, tenants.c.id == bookings.c.tenant_id), tenant_id,
                              states=domain.WORK_LIST_STATES, technician_id=technician_id)
             .where(_on_local_day(day)))
    rows = (await session.execute(query)).mappings().all()
    if not rows and not (await session.execute(sa.select(technician.exists()))).scalar():
        raise NotFound(f"no technician {technician_id}")
    return [BookingSummary.model_validate(_summary(r)) for r in rows]


async def unmatched_replies(session: AsyncSession, tenant_id: str) -> list[ReplyView]:
    """Replies whose code matched no order, kept for the planner (B3), oldest first."""
    query = (sa.select(replies.c.reply_id, replies.c.sender, replies.c.text, replies.c.code, replies.c.outcome, replies.c.received_at)
             .where(replies.c.tenant_id == tenant_id, replies.c.booking_id.is_(None)).order_by(replies.c.received_at))
    return [ReplyView.model_validate(dict(r)) for r in (await session.execute(query)).mappings()]


async def communication_log(session: AsyncSession, notification_url: str, authorization: str, tenant_id: str,
                            booking_id: uuid.UUID) -> list[LoggedMessage]:
    """The booking's messages as the notification service logged them (A6), asked over HTTP
    with the caller's own token."""
    known = sa.select(bookings.c.id).where(bookings.c.id == booking_id, bookings.c.tenant_id == tenant_id).exists()
    if not (await session.execute(sa.select(known))).scalar():
        raise NotFound(f"no booking {booking_id}")
    url = f"{notification_url.rstrip('/')}/tenants/{tenant_id}/messages"
    try:
        async with httpx.AsyncClient(timeout=10) as client:
            response = await client.get(url, params={"booking_id": str(booking_id)}, headers={"Authorization": authorization})
        response.raise_for_status()
    except httpx.HTTPError as exc:
        raise NotificationServiceUnavailable(f"the notification service did not answer: {type(exc).__name__}") from exc
    return [LoggedMessage.model_validate(m) for m in response.json()]


# --- technicians and slots -------------------------------------------------------------------


async def technicians_of(session: AsyncSession, tenant_id: str) -> list[Technician]:
    query = sa.select(technicians.c.id, technicians.c.name).where(technicians.c.tenant_id == tenant_id).order_by(technicians.c.name)
    return [Technician.model_validate(dict(r)) for r in (await session.execute(query)).mappings()]


async def technician(session: AsyncSession, tenant_id: str, technician_id: uuid.UUID) -> Technician:
    query = sa.select(technicians.c.id, technicians.c.name).where(technicians.c.id == technician_id, technicians.c.tenant_id == tenant_id)
    row = (await session.execute(query)).mappings().first()
    if row is None:
        raise NotFound(f"no technician {technician_id}")
    return Technician.model_validate(dict(row))


async def slot(session: AsyncSession, tenant_id: str, slot_id: uuid.UUID) -> SlotView:
    found = await storage.slot(session, tenant_id, slot_id)
    if found is None:
        raise NotFound(f"no slot {slot_id}")
    return SlotView(id=found.id, technician_id=found.technician_id, service=found.service, starts_at=found.starts_at, ends_at=found.ends_at)


async def free_slots(session: AsyncSession, tenant_id: str, *, service: str | None, after: datetime, limit: int = 200) -> list[SlotView]:
    """Free slots starting after `after`, earliest first."""
    return [SlotView(id=s.id, technician_id=s.technician_id, service=s.service, starts_at=s.starts_at, ends_at=s.ends_at)
            for s in await _free_slots(session, tenant_id, service=service, after=after, limit=limit)]


async def _free_slots(session: AsyncSession, tenant_id: str, *, service: str | None, after: datetime, limit: int,
                      before: datetime | None = None) -> list[domain.Slot]:
    query = sa.select(slots).where(slots.c.tenant_id == tenant_id, slots.c.booking_id.is_(None), slots.c.starts_at > after)
    if before is not None:
        query = query.where(slots.c.starts_at < before)
    if service is not None:
        query = query.where(slots.c.service == service)
    return [storage.slot_of(r) for r in (await session.execute(query.order_by(slots.c.starts_at).limit(limit))).mappings()]


async def freed_slots_of(session: AsyncSession, tenant_id: str, reason: FreedReason | None) -> list[FreedSlot]:
    """Slots freed by releases, rebookings and cancellations, latest first (A4, A6)."""
    query = (
        sa.select(freed_slots.c.slot_id, freed_slots.c.booking_id, freed_slots.c.reason, freed_slots.c.freed_at,
                  slots.c.service, slots.c.starts_at, slots.c.ends_at, slots.c.technician_id,
                  slots.c.booking_id.is_(None).label("still_free"))
        .join(slots, slots.c.id == freed_slots.c.slot_id)
        .where(freed_slots.c.tenant_id == tenant_id)
        .order_by(freed_slots.c.freed_at.desc())
    )
    if reason is not None:
        query = query.where(freed_slots.c.reason == reason)
    return [FreedSlot.model_validate(dict(r)) for r in (await session.execute(query)).mappings()]


# --- tenants ---------------------------------------------------------------------------------


async def tenant(session: AsyncSession, tenant_id: str) -> domain.Tenant:
    found = await storage.tenant(session, tenant_id)
    if found is None:
        raise NotFound("no such tenant")
    return found


async def tenant_known(session: AsyncSession, tenant_id: str) -> bool:
    return bool((await session.execute(sa.select(sa.select(tenants.c.id).where(tenants.c.id == tenant_id).exists()))).scalar())


# --- My pages --------------------------------------------------------------------------------


@dataclass(frozen=True)
class MyPage:
    """What the customer's page shows: the booking, its tenant, the free slots of its service it
    can move to (only while it can still be rebooked), and the booking that replaced it."""

    booking: domain.Booking
    tenant: domain.Tenant
    free_slots: list[domain.Slot]
    rebooked_to: uuid.UUID | None


REBOOKABLE = (domain.UNCONFIRMED, domain.CONFIRMED, domain.BOOKED)
SLOT_WINDOW = timedelta(weeks=6)
"""My pages offers free times in the six weeks after the booking's own time (or after now, for a
booking already past)."""


async def my_page(session: AsyncSession, tenant_id: str, booking_id: uuid.UUID, now: datetime) -> MyPage | None:
    """The page of a booking, or None when there is no such booking (any more)."""
    row = (await session.execute(
        storage.with_customer().where(bookings.c.id == booking_id, bookings.c.tenant_id == tenant_id))).mappings().first()
    found = await storage.tenant(session, tenant_id) if row else None
    if row is None or found is None:
        return None
    booked = storage.booking_of(row)
    until = max(now, booked.starts_at) + SLOT_WINDOW
    free = await _free_slots(session, tenant_id, service=booked.service, after=now, before=until, limit=200) \
        if booked.state in REBOOKABLE else []
    return MyPage(booked, found, free, row["rebooked_to"])


async def booking_by_short_code(session: AsyncSession, code: str) -> domain.Booking | None:
    """The booking a letter's short link names (`K7Q2-MX9P-AB3D`), or None."""
    known = domain.short_code_of(code)
    return await storage.booking_by_short_code(session, known) if known else None


async def language_of_link(session: AsyncSession, deps: Any, token: str) -> str | None:
    """The language of the customer a genuine My pages link was made for, also once it has
    expired; None for a link that is not ours."""
    try:
        link = dataclasses.replace(deps, link_days=100 * 365).read_my_pages_link(token)
    except LinkInvalid:
        return None
    booked = await storage.booking(session, link.tenant_id, link.booking_id)
    found = await storage.tenant(session, link.tenant_id)
    if found is None:
        return None
    return page_texts.language_for(booked.customer.language if booked else None, found.language)
