"""The booking service's tables and queries: tenants, technicians, slots, customers, bookings,
their history, freed slots, replies and reminders received."""
from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg
from sqlalchemy.ext.asyncio import AsyncSession

from bookflow_booking.domain import Booking, Customer, Tenant
from bookflow_contracts import Address

metadata = sa.MetaData()
UUID = pg.UUID(as_uuid=True)
Instant = sa.DateTime(timezone=True)

tenants = sa.Table(
    "tenants", metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("time_zone", sa.Text, nullable=False),
    sa.Column("language", sa.Text, nullable=False),
    sa.Column("flow", sa.Text, nullable=False),
    sa.Column("reminder_before", sa.Interval, nullable=False),
    sa.Column("release_after_reminder", sa.Interval, nullable=False),
    sa.Column("letter_response_time", sa.Interval, nullable=False),
    sa.Column("sms_response_time", sa.Interval, nullable=False),
    sa.Column("appointment_reminder_at", sa.Time, nullable=False),
    sa.Column("letter_folder", sa.Text),
    sa.Column("channels", pg.ARRAY(sa.Text), nullable=False),
    sa.Column("reply_number", sa.Text),
    sa.Column("phone", sa.Text),
    sa.Column("email", sa.Text),
    sa.Column("website", sa.Text),
    sa.Column("updated_at", Instant, nullable=False, server_default=sa.func.now()),
)

technicians = sa.Table(
    "technicians", metadata,
    sa.Column("id", UUID, primary_key=True),
    sa.Column("tenant_id", sa.Text, nullable=False),
    sa.Column("name", sa.Text, nullable=False),
)

slots = sa.Table(
    "slots", metadata,
    sa.Column("id", UUID, primary_key=True),
    sa.Column("tenant_id", sa.Text, nullable=False),
    sa.Column("technician_id", UUID),
    sa.Column("service", sa.Text, nullable=False),
    sa.Column("starts_at", Instant, nullable=False),
    sa.Column("ends_at", Instant, nullable=False),
    sa.Column("booking_id", UUID),
)

customers = sa.Table(
    "customers", metadata,
    sa.Column("id", UUID, primary_key=True),
    sa.Column("tenant_id", sa.Text, nullable=False),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("phone", sa.Text),
    sa.Column("email", sa.Text),
    sa.Column("language", sa.Text),
)

bookings = sa.Table(
    "bookings", metadata,
    sa.Column("id", UUID, primary_key=True),
    sa.Column("tenant_id", sa.Text, nullable=False),
    sa.Column("customer_id", UUID, nullable=False),
    sa.Column("service", sa.Text, nullable=False),
    sa.Column("starts_at", Instant, nullable=False),
    sa.Column("ends_at", Instant, nullable=False),
    sa.Column("street", sa.Text),
    sa.Column("postcode", sa.Text),
    sa.Column("city", sa.Text),
    sa.Column("state", sa.Text, nullable=False),
    sa.Column("flow", sa.Text, nullable=False),
    sa.Column("technician_id", UUID),
    sa.Column("sequence", sa.Integer),
    sa.Column("slot_id", UUID),
    sa.Column("booking_code", sa.Text),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("rebooked_from", UUID),
    sa.Column("rebooked_to", UUID),
    sa.Column("hold_until", sa.Date),
    sa.Column("state_reason", sa.Text),
    sa.Column("short_code", sa.Text, unique=True),
    sa.Column("created_at", Instant, nullable=False, server_default=sa.func.now()),
    sa.Column("updated_at", Instant, nullable=False, server_default=sa.func.now()),
)

booking_history = sa.Table(
    "booking_history", metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("booking_id", UUID, nullable=False),
    sa.Column("from_state", sa.Text, nullable=False),
    sa.Column("to_state", sa.Text, nullable=False),
    sa.Column("transition", sa.Text, nullable=False),
    sa.Column("actor", sa.Text, nullable=False),
    sa.Column("reason", sa.Text),
    sa.Column("at", Instant, nullable=False),
)

freed_slots = sa.Table(
    "freed_slots", metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("tenant_id", sa.Text, nullable=False),
    sa.Column("slot_id", UUID, nullable=False),
    sa.Column("booking_id", UUID, nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("freed_at", Instant, nullable=False),
)

replies = sa.Table(
    "replies", metadata,
    sa.Column("reply_id", UUID, primary_key=True),
    sa.Column("tenant_id", sa.Text, nullable=False),
    sa.Column("booking_id", UUID),
    sa.Column("sender", sa.Text, nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("code", sa.Text),
    sa.Column("outcome", sa.Text, nullable=False),
    sa.Column("received_at", Instant, nullable=False),
)

reminders_received = sa.Table(
    "reminders_received", metadata,
    sa.Column("booking_id", UUID, primary_key=True),
    sa.Column("timer_key", sa.Text, primary_key=True),
    sa.Column("due_at", Instant, primary_key=True),
    sa.Column("fired_at", Instant, nullable=False),
    sa.Column("lateness_ms", sa.Integer, nullable=False),
    sa.Column("received_at", Instant, nullable=False, server_default=sa.func.now()),
)

# --- tenants ---------------------------------------------------------------------------------

_TENANT_FIELDS = ("name", "time_zone", "language", "flow", "reminder_before", "release_after_reminder",
                  "letter_response_time", "sms_response_time", "appointment_reminder_at", "letter_folder", "reply_number",
                  "phone", "email", "website")


async def tenant(session: AsyncSession, tenant_id: str) -> Tenant:
    """The tenant's settings; the defaults for a tenant nobody has configured."""
    row = (await session.execute(sa.select(tenants).where(tenants.c.id == tenant_id))).mappings().first()
    if row is None:
        return Tenant(tenant_id)
    return Tenant(tenant_id, channels=tuple(row["channels"]), **{f: row[f] for f in _TENANT_FIELDS})


async def tenant_exists(session: AsyncSession, tenant_id: str) -> bool:
    return bool((await session.execute(sa.select(sa.literal(True)).where(tenants.c.id == tenant_id))).scalar())


async def save_tenant(session: AsyncSession, t: Tenant) -> None:
    values = {f: getattr(t, f) for f in _TENANT_FIELDS} | {"channels": list(t.channels), "updated_at": sa.func.now()}
    stmt = pg.insert(tenants).values(id=t.id, **values)
    await session.execute(stmt.on_conflict_do_update(index_elements=[tenants.c.id], set_=values))


# --- technicians and slots -------------------------------------------------------------------


async def add_technician(session: AsyncSession, tenant_id: str, name: str) -> dict:
    row = {"id": uuid.uuid4(), "tenant_id": tenant_id, "name": name}
    await session.execute(sa.insert(technicians).values(**row))
    return row


async def technicians_of(session: AsyncSession, tenant_id: str) -> list[dict]:
    rows = await session.execute(sa.select(technicians).where(technicians.c.tenant_id == tenant_id).order_by(technicians.c.name))
    return [dict(r._mapping) for r in rows]


async def technician_exists(session: AsyncSession, tenant_id: str, technician_id: uuid.UUID) -> bool:
    query = sa.select(sa.literal(True)).where(technicians.c.id == technician_id, technicians.c.tenant_id == tenant_id)
    return bool((await session.execute(query)).scalar())


async def add_slot(session: AsyncSession, tenant_id: str, technician_id: uuid.UUID | None, service: str,
                   starts_at: datetime, ends_at: datetime, booking_id: uuid.UUID | None = None) -> dict:
    row = {"id": uuid.uuid4(), "tenant_id": tenant_id, "technician_id": technician_id, "service": service,
           "starts_at": starts_at, "ends_at": ends_at, "booking_id": booking_id}
    await session.execute(sa.insert(slots).values(**row))
    return row


async def slot(session: AsyncSession, tenant_id: str, slot_id: uuid.UUID) -> dict | None:
    row = (await session.execute(sa.select(slots).where(slots.c.id == slot_id, slots.c.tenant_id == tenant_id))).mappings().first()
    return dict(row) if row else None


async def free_slots(session: AsyncSession, tenant_id: str, *, service: str | None, after: datetime, limit: int = 200,
                     before: datetime | None = None) -> list[dict]:
    query = sa.select(slots).where(slots.c.tenant_id == tenant_id, slots.c.booking_id.is_(None), slots.c.starts_at > after)
    if before is not None:
        query = query.where(slots.c.starts_at < before)
    if service is not None:
        query = query.where(slots.c.service == service)
    rows = await session.execute(query.order_by(slots.c.starts_at).limit(limit))
    return [dict(r._mapping) for r in rows]


async def take_slot(session: AsyncSession, tenant_id: str, slot_id: uuid.UUID, booking_id: uuid.UUID) -> dict | None:
    """Give a free slot to a booking; None when the slot does not exist or is taken."""
    row = (await session.execute(
        sa.update(slots).where(slots.c.id == slot_id, slots.c.tenant_id == tenant_id, slots.c.booking_id.is_(None))
        .values(booking_id=booking_id).returning(*slots.c)
    )).mappings().first()
    return dict(row) if row else None


async def free_slot(session: AsyncSession, booking: Booking, reason: str, at: datetime) -> None:
    """The booking's slot is free again, and the freeing is recorded (A4, A6)."""
    if booking.slot_id is None:
        return
    await session.execute(sa.update(slots).where(slots.c.id == booking.slot_id).values(booking_id=None))
    await session.execute(sa.insert(freed_slots).values(
        tenant_id=booking.tenant_id, slot_id=booking.slot_id, booking_id=booking.id, reason=reason, freed_at=at))


async def move_slot(session: AsyncSession, booking: Booking) -> None:
    """Keep the booking's slot on its (rescheduled) time and technician."""
    if booking.slot_id is not None:
        await session.execute(sa.update(slots).where(slots.c.id == booking.slot_id).values(
            starts_at=booking.starts_at, ends_at=booking.ends_at, technician_id=booking.technician_id))


async def freed_slots_of(session: AsyncSession, tenant_id: str, reason: str | None) -> list[dict]:
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
    return [dict(r._mapping) for r in await session.execute(query)]


# --- bookings --------------------------------------------------------------------------------


async def add_booking(session: AsyncSession, booking: Booking) -> None:
    c, place = booking.customer, booking.place or Address()
    new_customer = pg.insert(customers).values(
        id=c.id, tenant_id=booking.tenant_id, name=c.name, phone=c.phone, email=c.email, language=c.language)
    await session.execute(new_customer.on_conflict_do_nothing())  # a rebooking keeps its customer
    await session.execute(sa.insert(bookings).values(
        id=booking.id, tenant_id=booking.tenant_id, customer_id=c.id, service=booking.service,
        starts_at=booking.starts_at, ends_at=booking.ends_at, state=booking.state, flow=booking.flow,
        street=place.street, postcode=place.postcode, city=place.city, technician_id=booking.technician_id,
        sequence=booking.sequence, slot_id=booking.slot_id, booking_code=booking.booking_code,
        version=booking.version, rebooked_from=booking.rebooked_from, short_code=booking.short_code,
    ))


async def save_booking(session: AsyncSession, booking: Booking, **extra: Any) -> None:
    """Write the booking's changeable fields (state, time, technician, code, hold) back."""
    place = booking.place or Address()
    await session.execute(sa.update(bookings).where(bookings.c.id == booking.id).values(
        state=booking.state, version=booking.version, starts_at=booking.starts_at, ends_at=booking.ends_at,
        technician_id=booking.technician_id, sequence=booking.sequence, booking_code=booking.booking_code,
        hold_until=booking.hold_until, street=place.street, postcode=place.postcode, city=place.city,
        service=booking.service, updated_at=sa.func.now(), **extra,
    ))


async def save_customer(session: AsyncSession, customer: Customer) -> None:
    await session.execute(sa.update(customers).where(customers.c.id == customer.id).values(
        name=customer.name, phone=customer.phone, email=customer.email, language=customer.language))


def _booking(row: Any) -> Booking:
    place = Address(street=row["street"], postcode=row["postcode"], city=row["city"]) if (
        row["street"] or row["postcode"] or row["city"]) else None
    return Booking(
        id=row["id"], tenant_id=row["tenant_id"],
        customer=Customer(row["customer_id"], row["name"], row["phone"], row["email"], row["language"]),
        service=row["service"], starts_at=row["starts_at"], ends_at=row["ends_at"], place=place, state=row["state"],
        flow=row["flow"], technician_id=row["technician_id"], sequence=row["sequence"], slot_id=row["slot_id"],
        booking_code=row["booking_code"], version=row["version"], rebooked_from=row["rebooked_from"],
        hold_until=row["hold_until"], short_code=row["short_code"],
    )


def _with_customer() -> sa.Select:
    return sa.select(bookings, customers.c.name, customers.c.phone, customers.c.email, customers.c.language).join(
        customers, customers.c.id == bookings.c.customer_id)


async def booking(session: AsyncSession, tenant_id: str, booking_id: uuid.UUID, *, lock: bool = False) -> Booking | None:
    """The tenant's booking (locked for a state change when `lock`), or None."""
    query = _with_customer().where(bookings.c.id == booking_id, bookings.c.tenant_id == tenant_id)
    if lock:
        query = query.with_for_update(of=bookings)
    row = (await session.execute(query)).mappings().first()
    return _booking(row) if row else None


async def booking_row(session: AsyncSession, tenant_id: str, booking_id: uuid.UUID) -> dict | None:
    """The booking as staff see it, with customer and links."""
    row = (await session.execute(
        _with_customer().where(bookings.c.id == booking_id, bookings.c.tenant_id == tenant_id))).mappings().first()
    return dict(row) if row else None


async def booking_by_short_code(session: AsyncSession, code: str) -> Booking | None:
    """The booking a short My pages link names (codes are unique across tenants)."""
    row = (await session.execute(_with_customer().where(bookings.c.short_code == code))).mappings().first()
    return _booking(row) if row else None


async def booking_by_code(session: AsyncSession, tenant_id: str, code: str) -> Booking | None:
    query = _with_customer().where(bookings.c.booking_code == code, bookings.c.tenant_id == tenant_id).with_for_update(of=bookings)
    row = (await session.execute(query)).mappings().first()
    return _booking(row) if row else None


async def booking_exists(session: AsyncSession, tenant_id: str, booking_id: uuid.UUID) -> bool:
    query = sa.select(sa.literal(True)).where(bookings.c.id == booking_id, bookings.c.tenant_id == tenant_id)
    return bool((await session.execute(query)).scalar())


async def code_taken(session: AsyncSession, code: str) -> bool:
    return bool((await session.execute(sa.select(sa.literal(True)).where(bookings.c.booking_code == code))).scalar())


async def link_rebooking(session: AsyncSession, old_id: uuid.UUID, new_id: uuid.UUID) -> None:
    await session.execute(sa.update(bookings).where(bookings.c.id == old_id).values(rebooked_to=new_id))


async def list_bookings(session: AsyncSession, tenant_id: str, *, states: tuple[str, ...] | None = None,
                        technician_id: uuid.UUID | None = None, service: str | None = None,
                        starts_from: datetime | None = None, starts_before: datetime | None = None,
                        limit: int = 500) -> list[dict]:
    """Bookings by state and filters, in the technician's booking order within the day."""
    query = _with_customer().where(bookings.c.tenant_id == tenant_id)
    if states:
        query = query.where(bookings.c.state.in_(states))
    if technician_id is not None:
        query = query.where(bookings.c.technician_id == technician_id)
    if service is not None:
        query = query.where(bookings.c.service == service)
    if starts_from is not None:
        query = query.where(bookings.c.starts_at >= starts_from)
    if starts_before is not None:
        query = query.where(bookings.c.starts_at < starts_before)
    query = query.order_by(bookings.c.starts_at.cast(sa.Date), bookings.c.sequence.nulls_last(), bookings.c.starts_at).limit(limit)
    return [dict(r) for r in (await session.execute(query)).mappings()]


async def bookings_for_update(session: AsyncSession, tenant_id: str, ids: list[uuid.UUID]) -> list[Booking]:
    query = _with_customer().where(bookings.c.tenant_id == tenant_id, bookings.c.id.in_(ids)).order_by(
        bookings.c.starts_at).with_for_update(of=bookings)
    return [_booking(r) for r in (await session.execute(query)).mappings()]


# --- history, replies, reminders -------------------------------------------------------------


async def add_history(session: AsyncSession, booking_id: uuid.UUID, from_state: str, to_state: str, transition: str,
                      actor: str, reason: str | None, at: datetime) -> None:
    await session.execute(sa.insert(booking_history).values(
        booking_id=booking_id, from_state=from_state, to_state=to_state, transition=transition, actor=actor, reason=reason, at=at))


async def history_of(session: AsyncSession, booking_id: uuid.UUID) -> list[dict]:
    rows = await session.execute(
        sa.select(booking_history.c.from_state, booking_history.c.to_state, booking_history.c.transition,
                  booking_history.c.actor, booking_history.c.reason, booking_history.c.at)
        .where(booking_history.c.booking_id == booking_id).order_by(booking_history.c.id))
    return [dict(r._mapping) for r in rows]


async def reply_known(session: AsyncSession, reply_id: uuid.UUID) -> bool:
    """True when this reply was handled before (a provider may deliver one reply twice)."""
    return bool((await session.execute(sa.select(sa.literal(True)).where(replies.c.reply_id == reply_id))).scalar())


async def add_reply(session: AsyncSession, *, reply_id: uuid.UUID, tenant_id: str, booking_id: uuid.UUID | None,
                    sender: str, text: str, code: str | None, outcome: str, received_at: datetime) -> None:
    await session.execute(sa.insert(replies).values(reply_id=reply_id, tenant_id=tenant_id, booking_id=booking_id,
                                                    sender=sender, text=text, code=code, outcome=outcome, received_at=received_at))


async def replies_of(session: AsyncSession, tenant_id: str, booking_id: uuid.UUID | None) -> list[dict]:
    """A booking's replies, or with None the replies no booking matched (kept for the planner)."""
    where = replies.c.booking_id.is_(None) if booking_id is None else replies.c.booking_id == booking_id
    rows = await session.execute(
        sa.select(replies.c.reply_id, replies.c.sender, replies.c.text, replies.c.code, replies.c.outcome, replies.c.received_at)
        .where(replies.c.tenant_id == tenant_id, where).order_by(replies.c.received_at))
    return [dict(r._mapping) for r in rows]


async def add_reminder_received(session: AsyncSession, booking_id: uuid.UUID, timer_key: str, due_at: datetime, fired_at: datetime, lateness_ms: int) -> None:
    stmt = pg.insert(reminders_received).values(
        booking_id=booking_id, timer_key=timer_key, due_at=due_at, fired_at=fired_at, lateness_ms=lateness_ms
    )
    await session.execute(stmt.on_conflict_do_nothing())


async def reminders_of(session: AsyncSession, booking_id: uuid.UUID) -> list[dict]:
    rows = await session.execute(
        sa.select(reminders_received).where(reminders_received.c.booking_id == booking_id).order_by(reminders_received.c.due_at)
    )
    return [dict(r._mapping) for r in rows]
