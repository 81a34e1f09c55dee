"""The booking service's tables and the queries its handlers use: tenants, technicians, slots,
customers, bookings, their history, freed slots, replies, reminders received, idempotency keys
and failed My pages links. Rows come back as the domain's types, never as rows or dicts; what
staff and customers read is built in `views`."""
from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg
from sqlalchemy.ext.asyncio import AsyncSession

from bookflow_booking.domain import Booking, Customer, Slot, Tenant
from bookflow_contracts import Address, CatalogService, Subject, WorkLine
from bookflow_runtime.database import unnest
from bookflow_runtime.loop import in_turns

metadata = sa.MetaData()
UUID = pg.UUID(as_uuid=True)
Instant = sa.DateTime(timezone=True)
# One schema, not two: these tables are what migrations/ make, index for index and constraint for
# constraint; tests/test_storage_matches_migrations.py holds the two together (bookflow_runtime.migrations.drift).

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
    sa.Column("tenant_id", sa.Text, nullable=False, index=True),
    sa.Column("name", sa.Text, nullable=False),
)

slots = sa.Table(
    "slots", metadata,
    sa.Column("id", UUID, primary_key=True),
    sa.Column("tenant_id", sa.Text, nullable=False),
    sa.Column("technician_id", UUID, sa.ForeignKey("technicians.id")),
    sa.Column("service", sa.Text, nullable=False),
    sa.Column("starts_at", Instant, nullable=False),
    sa.Column("ends_at", Instant, nullable=False),
    sa.Column("booking_id", UUID, unique=True),
    sa.CheckConstraint("ends_at > starts_at", name="slots_end_after_start"),
    sa.Index("slots_free", "tenant_id", "service", "starts_at", postgresql_where=sa.text("booking_id IS NULL")),
)

customers = sa.Table(
    "customers", metadata,
    sa.Column("id", UUID, primary_key=True),
    sa.Column("tenant_id", sa.Text, nullable=False, index=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("phone", sa.Text),  # E.164
    sa.Column("email", sa.Text),
    sa.Column("language", sa.Text),
    sa.Column("created_at", Instant, nullable=False, server_default=sa.func.now()),
    sa.Column("customer_number", sa.Text),  # the business's own number for the customer
    sa.Column("street", sa.Text),  # postal address
    sa.Column("postcode", sa.Text),
    sa.Column("city", sa.Text),
    sa.Column("preferred_channel", sa.Text),
    sa.Column("marketing_consent", sa.Boolean),  # None: never recorded
    sa.Column("consent_changed_at", Instant),
    sa.Column("consent_source", sa.Text),  # staff, my-pages, check-in
    sa.Column("updated_at", Instant, nullable=False, server_default=sa.func.now()),
    sa.UniqueConstraint("tenant_id", "customer_number", name="customers_tenant_number"),
    sa.Index("customers_tenant_phone", "tenant_id", "phone"),
    sa.Index("customers_tenant_email", "tenant_id", "email"),
)

bookings = sa.Table(
    "bookings", metadata,
    sa.Column("id", UUID, primary_key=True),
    sa.Column("tenant_id", sa.Text, nullable=False),
    sa.Column("customer_id", UUID, sa.ForeignKey("customers.id"), nullable=False),
    sa.Column("service", sa.Text, nullable=False),
    sa.Column("starts_at", Instant, nullable=False),
    sa.Column("ends_at", Instant, nullable=False),
    sa.Column("street", sa.Text),
    sa.Column("postcode", sa.Text),
    sa.Column("city", sa.Text),
    sa.Column("state", sa.Text, nullable=False),
    sa.Column("created_at", Instant, nullable=False, server_default=sa.func.now()),
    sa.Column("flow", sa.Text, nullable=False, server_default="none"),
    sa.Column("technician_id", UUID, sa.ForeignKey("technicians.id")),
    sa.Column("sequence", sa.Integer),
    sa.Column("slot_id", UUID, sa.ForeignKey("slots.id")),
    sa.Column("booking_code", sa.Text, unique=True),
    sa.Column("version", sa.Integer, nullable=False, server_default="0"),
    sa.Column("rebooked_from", UUID, sa.ForeignKey("bookings.id")),
    sa.Column("rebooked_to", UUID, sa.ForeignKey("bookings.id")),
    sa.Column("hold_until", sa.Date),
    sa.Column("state_reason", sa.Text),
    sa.Column("updated_at", Instant, nullable=False, server_default=sa.func.now()),
    sa.Column("short_code", sa.Text, unique=True),
    sa.Column("work_lines", pg.JSONB, nullable=False, server_default=sa.text("'[]'::jsonb")),  # [WorkLine]
    sa.Column("subject", pg.JSONB),  # Subject
    sa.Column("extra_info", sa.Text),  # printed on the notice (A1)
    sa.Column("source", sa.Text, nullable=False, server_default="staff"),
    sa.Column("source_ref", sa.Text),
    sa.CheckConstraint("ends_at > starts_at", name="bookings_ends_after_start"),
    sa.Index("bookings_tenant_start", "tenant_id", "starts_at"),
    sa.Index("bookings_tenant_state", "tenant_id", "state", "starts_at"),
    sa.Index("bookings_technician_start", "technician_id", "starts_at"),
    sa.Index("bookings_customer", "customer_id", "starts_at"),
    sa.Index("bookings_source", "tenant_id", "source_ref"),
)

booking_history = sa.Table(
    "booking_history", metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("booking_id", UUID, sa.ForeignKey("bookings.id"), nullable=False, index=True),
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
    sa.Column("slot_id", UUID, sa.ForeignKey("slots.id"), nullable=False),
    sa.Column("booking_id", UUID, sa.ForeignKey("bookings.id"), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("freed_at", Instant, nullable=False),
    sa.Index("freed_slots_tenant", "tenant_id", "freed_at"),
)

replies = sa.Table(
    "replies", metadata,
    sa.Column("reply_id", UUID, primary_key=True),
    sa.Column("tenant_id", sa.Text, nullable=False),
    sa.Column("booking_id", UUID, sa.ForeignKey("bookings.id")),
    sa.Column("sender", sa.Text, nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("code", sa.Text),
    sa.Column("outcome", sa.Text, nullable=False),
    sa.Column("received_at", Instant, nullable=False),
    sa.Index("replies_tenant_unmatched", "tenant_id", "received_at", postgresql_where=sa.text("booking_id IS NULL")),
    sa.Index("replies_sender", "tenant_id", "sender", "received_at"),
)

reminders_received = sa.Table(
    "reminders_received", metadata,
    sa.Column("booking_id", UUID, sa.ForeignKey("bookings.id"), primary_key=True),
    sa.Column("timer_key", sa.Text, primary_key=True),
    sa.Column("due_at", Instant, primary_key=True),
    sa.Column("fired_at", Instant, nullable=False),
    sa.Column("lateness_ms", sa.BigInteger, nullable=False),  # a reminder may be weeks late (issue 9, finding 6)
    sa.Column("received_at", Instant, nullable=False, server_default=sa.func.now()),
)

idempotency_keys = sa.Table(
    "idempotency_keys", metadata,
    sa.Column("tenant_id", sa.Text, primary_key=True),
    sa.Column("key", sa.Text, primary_key=True),
    sa.Column("fingerprint", sa.Text, nullable=False),
    sa.Column("resource_id", UUID),
    sa.Column("created_at", Instant, nullable=False),
    sa.Index("idempotency_keys_age", "created_at"),
)
"""`Idempotency-Key`s of creating requests: the same key again gives the thing made the first time."""

failed_links = sa.Table(
    "failed_links", metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("address", sa.Text, nullable=False),
    sa.Column("at", Instant, nullable=False),
    sa.Index("failed_links_address", "address", "at"),
)
"""My pages requests with a link that was not valid, by client address (keyed, not kept as is)."""

catalog_services = sa.Table(
    "catalog_services", metadata,
    sa.Column("tenant_id", sa.Text, primary_key=True),
    sa.Column("service", sa.Text, primary_key=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("duration_minutes", sa.Integer, nullable=False),
    sa.Column("price_incl_vat", sa.Numeric(12, 2)),
    sa.Column("vat_rate", sa.Numeric(5, 4)),
    sa.Column("article_numbers", pg.ARRAY(sa.Text), nullable=False),
    sa.Column("description", sa.Text),
    sa.Column("link", sa.Text),
    sa.Column("offered_at_checkin", sa.Boolean, nullable=False),
    sa.Column("bookable_online", sa.Boolean, nullable=False),
    sa.Column("updated_at", Instant, nullable=False, server_default=sa.func.now()),
)
"""The tenant's service catalog (C2, D2, E5), published whole as `catalog.updated`."""

messages = sa.Table(
    "messages", metadata,
    sa.Column("message_id", UUID, primary_key=True),
    sa.Column("tenant_id", sa.Text, nullable=False),
    sa.Column("booking_id", UUID),
    sa.Column("customer_id", UUID, nullable=False),
    sa.Column("channel", sa.Text, nullable=False),
    sa.Column("template_key", sa.Text),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("status_at", Instant, nullable=False),
    sa.Column("reason", sa.Text),
    sa.Column("provider", sa.Text),
    sa.Column("segments", sa.Integer),
    sa.Column("cost", sa.Numeric(12, 4)),
    sa.Column("currency", sa.Text),
    sa.Column("created_at", Instant, nullable=False),
    sa.Column("sent_at", Instant),
    sa.Column("delivered_at", Instant),
    sa.Column("failed_at", Instant),
    sa.Column("withdrawn_at", Instant),
    sa.Column("history", pg.JSONB, nullable=False, server_default=sa.text("'[]'::jsonb")),  # [{status, at, reason}]
    sa.Index("messages_booking", "booking_id", "created_at"),
    sa.Index("messages_customer", "tenant_id", "customer_id", "created_at"),
)
"""The communication log's messages (A6, X4): a projection of `notification.status`, one row per message."""

log_entries = sa.Table(
    "log_entries", metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("tenant_id", sa.Text, nullable=False),
    sa.Column("customer_id", UUID),
    sa.Column("booking_id", UUID),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("at", Instant, nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("details", pg.JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
    sa.Column("dedupe_key", sa.Text, unique=True),
    sa.Index("log_entries_customer", "tenant_id", "customer_id", "at"),
    sa.Index("log_entries_booking", "booking_id", "at"),
)
"""The communication log's other entries: contact changes other services asked for, check-ins answered."""

shared_comments = sa.Table(
    "shared_comments", metadata,
    sa.Column("comment_id", UUID, primary_key=True),
    sa.Column("tenant_id", sa.Text, nullable=False),
    sa.Column("booking_id", UUID, nullable=False, index=True),
    sa.Column("visible", sa.Boolean, nullable=False),
    sa.Column("subject", sa.Text, nullable=False),
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("files", pg.JSONB, nullable=False, server_default=sa.text("'[]'::jsonb")),
    sa.Column("updated_at", Instant, nullable=False, server_default=sa.func.now()),
)
"""Check-in comments shared with mechanics (C6), shown on the technician's work list while visible."""

applied_requests = sa.Table(
    "applied_requests", metadata,
    sa.Column("tenant_id", sa.Text, primary_key=True),
    sa.Column("request_id", UUID, primary_key=True),
    sa.Column("command", sa.Text, nullable=False),
    sa.Column("result", pg.JSONB, nullable=False),  # the answer published, to repeat for the same request
    sa.Column("at", Instant, nullable=False, server_default=sa.func.now()),
)
"""Commands on `booking.commands` by request id: the same request twice is applied once and answered alike."""

# --- tenants ---------------------------------------------------------------------------------

_TENANT_FIELDS = ("name", "time_zone", "language", "flow", "reminder_before", "release_after_reminder",
                  "letter_response_time", "sms_response_time", "appointment_reminder_at", "letter_folder", "reply_number",
                  "phone", "email", "website")


def tenant_of(row: Any) -> Tenant:
    return Tenant(row["id"], channels=tuple(row["channels"]), **{f: row[f] for f in _TENANT_FIELDS})


async def tenant(session: AsyncSession, tenant_id: str) -> Tenant | None:
    """The tenant's settings, or None for a tenant the service does not have."""
    row = (await session.execute(sa.select(tenants).where(tenants.c.id == tenant_id))).mappings().first()
    return tenant_of(row) if row else None


async def save_tenant(session: AsyncSession, t: Tenant) -> None:
    values = {f: getattr(t, f) for f in _TENANT_FIELDS} | {"channels": list(t.channels), "updated_at": sa.func.now()}
    stmt = pg.insert(tenants).values(id=t.id, **values)
    await session.execute(stmt.on_conflict_do_update(index_elements=[tenants.c.id], set_=values))


# --- technicians and slots -------------------------------------------------------------------


async def add_technician(session: AsyncSession, tenant_id: str, name: str) -> uuid.UUID:
    technician_id = uuid.uuid4()
    await session.execute(sa.insert(technicians).values(id=technician_id, tenant_id=tenant_id, name=name))
    return technician_id


async def technician_exists(session: AsyncSession, tenant_id: str, technician_id: uuid.UUID) -> bool:
    query = sa.select(sa.literal(True)).where(technicians.c.id == technician_id, technicians.c.tenant_id == tenant_id)
    return bool((await session.execute(query)).scalar())


async def add_slot(session: AsyncSession, tenant_id: str, technician_id: uuid.UUID | None, service: str,
                   starts_at: datetime, ends_at: datetime) -> uuid.UUID:
    slot_id = uuid.uuid4()
    await session.execute(sa.insert(slots).values(id=slot_id, tenant_id=tenant_id, technician_id=technician_id,
                                                  service=service, starts_at=starts_at, ends_at=ends_at))
    return slot_id


def slot_of(row: Any) -> Slot:
    return Slot(row["id"], row["tenant_id"], row["technician_id"], row["service"], row["starts_at"], row["ends_at"], row["booking_id"])


async def slot(session: AsyncSession, tenant_id: str, slot_id: uuid.UUID) -> Slot | None:
    row = (await session.execute(sa.select(slots).where(slots.c.id == slot_id, slots.c.tenant_id == tenant_id))).mappings().first()
    return slot_of(row) if row else None


async def claim_free_slot(session: AsyncSession, tenant_id: str, service: str, *, after: datetime, before: datetime) -> Slot | None:
    """The first free slot of `service` starting in [after, before), locked for this transaction;
    a slot another transaction is claiming is skipped (`SKIP LOCKED`), so two at once never get
    the same one (E4 auto-book)."""
    query = (sa.select(slots).where(slots.c.tenant_id == tenant_id, slots.c.service == service, slots.c.booking_id.is_(None),
                                    slots.c.starts_at >= after, slots.c.starts_at < before)
             .order_by(slots.c.starts_at, slots.c.id).limit(1).with_for_update(skip_locked=True))
    row = (await session.execute(query)).mappings().first()
    return slot_of(row) if row else None


async def take_slot(session: AsyncSession, tenant_id: str, slot_id: uuid.UUID, booking_id: uuid.UUID) -> bool:
    """Give a free slot to a booking; False when the slot does not exist or is taken."""
    taken = await session.execute(
        sa.update(slots).where(slots.c.id == slot_id, slots.c.tenant_id == tenant_id, slots.c.booking_id.is_(None))
        .values(booking_id=booking_id).returning(slots.c.id)
    )
    return taken.first() is not None


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


# --- bookings --------------------------------------------------------------------------------


async def add_booking(session: AsyncSession, booking: Booking) -> None:
    """Store a new booking of a stored customer."""
    place = booking.place or Address()
    await session.execute(sa.insert(bookings).values(
        id=booking.id, tenant_id=booking.tenant_id, customer_id=booking.customer.id, service=booking.service,
        starts_at=booking.starts_at, ends_at=booking.ends_at, state=booking.state, flow=booking.flow,
        street=place.street, postcode=place.postcode, city=place.city, technician_id=booking.technician_id,
        sequence=booking.sequence, slot_id=booking.slot_id, booking_code=booking.booking_code,
        version=booking.version, rebooked_from=booking.rebooked_from, short_code=booking.short_code,
        work_lines=_lines_json(booking.work_lines), subject=booking.subject.model_dump(mode="json") if booking.subject else None,
        extra_info=booking.extra_info, source=booking.source, source_ref=booking.source_ref,
    ))


def _lines_json(lines) -> list[dict]:
    return [line.model_dump(mode="json") for line in lines]


async def save_booking(session: AsyncSession, booking: Booking, **extra: Any) -> None:
    """Write the booking's changeable fields (state, time, technician, code, hold, place, work) back."""
    place = booking.place or Address()
    await session.execute(sa.update(bookings).where(bookings.c.id == booking.id).values(
        state=booking.state, version=booking.version, starts_at=booking.starts_at, ends_at=booking.ends_at,
        technician_id=booking.technician_id, sequence=booking.sequence, booking_code=booking.booking_code,
        hold_until=booking.hold_until, street=place.street, postcode=place.postcode, city=place.city,
        service=booking.service, work_lines=_lines_json(booking.work_lines),
        subject=booking.subject.model_dump(mode="json") if booking.subject else None, extra_info=booking.extra_info,
        updated_at=sa.func.now(), **extra,
    ))


async def set_sequences(session: AsyncSession, sequences: dict[uuid.UUID, int]) -> None:
    """Orders moved down within a technician's day to make room (B7)."""
    for booking_id, sequence in sequences.items():
        await session.execute(sa.update(bookings).where(bookings.c.id == booking_id).values(sequence=sequence))


async def sequences_of_day(session: AsyncSession, tenant_id: str, technician_id: uuid.UUID, starts_from: datetime,
                           starts_before: datetime, *, besides: uuid.UUID) -> list[tuple[uuid.UUID, int | None]]:
    """The technician's other live orders of a day, with their places in it, locked."""
    query = (sa.select(bookings.c.id, bookings.c.sequence)
             .where(bookings.c.tenant_id == tenant_id, bookings.c.technician_id == technician_id,
                    bookings.c.starts_at >= starts_from, bookings.c.starts_at < starts_before, bookings.c.id != besides,
                    bookings.c.state.notin_(ENDED)).order_by(bookings.c.id).with_for_update())
    return [(r.id, r.sequence) for r in await session.execute(query)]


# --- customers -------------------------------------------------------------------------------

_CUSTOMER_COLUMNS = ("name", "phone", "email", "language", "preferred_channel", "customer_number", "marketing_consent",
                     "consent_changed_at", "consent_source")


def _customer_values(c: Customer) -> dict[str, Any]:
    address = c.address or Address()
    return {f: getattr(c, f) for f in _CUSTOMER_COLUMNS} | {"street": address.street, "postcode": address.postcode, "city": address.city}


async def add_customer(session: AsyncSession, tenant_id: str, customer: Customer) -> None:
    await session.execute(sa.insert(customers).values(id=customer.id, tenant_id=tenant_id, **_customer_values(customer)))


async def save_customer(session: AsyncSession, customer: Customer) -> None:
    await session.execute(sa.update(customers).where(customers.c.id == customer.id).values(
        **_customer_values(customer), updated_at=sa.func.now()))


def customer_of(row: Any, prefix: str = "") -> Customer:
    """A customer from a row of `customers` (or of a query that labels its columns with `prefix`)."""
    r = {k: row[prefix + k] for k in ("id", *_CUSTOMER_COLUMNS, "street", "postcode", "city")}
    address = Address(street=r["street"], postcode=r["postcode"], city=r["city"]) if (r["street"] or r["postcode"] or r["city"]) else None
    return Customer(r["id"], r["name"], r["phone"], r["email"], r["language"], preferred_channel=r["preferred_channel"],
                    address=address, customer_number=r["customer_number"], marketing_consent=r["marketing_consent"],
                    consent_changed_at=r["consent_changed_at"], consent_source=r["consent_source"])


async def customer(session: AsyncSession, tenant_id: str, customer_id: uuid.UUID, *, lock: bool = False) -> Customer | None:
    """The tenant's customer (locked for a change when `lock`), or None, also for another tenant's."""
    query = sa.select(customers).where(customers.c.id == customer_id, customers.c.tenant_id == tenant_id)
    row = (await session.execute(query.with_for_update() if lock else query)).mappings().first()
    return customer_of(row) if row else None


async def customer_by_number(session: AsyncSession, tenant_id: str, number: str, *, lock: bool = False) -> Customer | None:
    query = sa.select(customers).where(customers.c.tenant_id == tenant_id, customers.c.customer_number == number)
    row = (await session.execute(query.with_for_update() if lock else query)).mappings().first()
    return customer_of(row) if row else None


# --- bookings, read ---------------------------------------------------------------------------


def address_of(row: Any) -> Address | None:
    """The place of a booking row; None when it has none."""
    if not (row["street"] or row["postcode"] or row["city"]):
        return None
    return Address(street=row["street"], postcode=row["postcode"], city=row["city"])


def booking_of(row: Any) -> Booking:
    return Booking(
        id=row["id"], tenant_id=row["tenant_id"], customer=customer_of(row, "cust_"),
        service=row["service"], starts_at=row["starts_at"], ends_at=row["ends_at"], place=address_of(row), state=row["state"],
        flow=row["flow"], technician_id=row["technician_id"], sequence=row["sequence"], slot_id=row["slot_id"],
        booking_code=row["booking_code"], version=row["version"], rebooked_from=row["rebooked_from"],
        hold_until=row["hold_until"], short_code=row["short_code"],
        work_lines=tuple(WorkLine.model_validate(line) for line in row["work_lines"] or ()),
        subject=Subject.model_validate(row["subject"]) if row["subject"] else None, extra_info=row["extra_info"],
        source=row["source"], source_ref=row["source_ref"],
    )


def with_customer() -> sa.Select:
    """Bookings joined with their customers (columns `cust_<name>`; `name`, `phone`, `email`
    and `language` also as they are)."""
    return _WITH_CUSTOMER


def _with_customer() -> sa.Select:
    c = customers.c
    return sa.select(
        bookings, c.name, c.phone, c.email, c.language,
        *(col.label(f"cust_{col.name}") for col in (c.id, *(getattr(c, f) for f in _CUSTOMER_COLUMNS), c.street, c.postcode, c.city)),
    ).join(customers, customers.c.id == bookings.c.customer_id)


_WITH_CUSTOMER = _with_customer()  # built once (a Select is immutable: `.where()` and the like return a new one)


async def booking(session: AsyncSession, tenant_id: str, booking_id: uuid.UUID, *, lock: bool = False) -> Booking | None:
    """The tenant's booking (locked for a state change when `lock`), or None."""
    query = with_customer().where(bookings.c.id == booking_id, bookings.c.tenant_id == tenant_id)
    if lock:
        query = query.with_for_update(of=bookings)
    row = (await session.execute(query)).mappings().first()
    return booking_of(row) if row else None


async def booking_from_source(session: AsyncSession, tenant_id: str, customer_id: uuid.UUID, source: str,
                              source_ref: str) -> Booking | None:
    """The customer's live booking made through this source (a book-again link used before)."""
    query = with_customer().where(bookings.c.tenant_id == tenant_id, bookings.c.customer_id == customer_id,
                                  bookings.c.source == source, bookings.c.source_ref == source_ref,
                                  bookings.c.state.notin_(("cancelled", "deleted"))).order_by(bookings.c.created_at.desc())
    row = (await session.execute(query)).mappings().first()
    return booking_of(row) if row else None


async def booking_by_short_code(session: AsyncSession, code: str) -> Booking | None:
    """The booking a short My pages link names (codes are unique across tenants)."""
    row = (await session.execute(with_customer().where(bookings.c.short_code == code))).mappings().first()
    return booking_of(row) if row else None


async def booking_by_code(session: AsyncSession, tenant_id: str, code: str) -> Booking | None:
    query = with_customer().where(bookings.c.booking_code == code, bookings.c.tenant_id == tenant_id).with_for_update(of=bookings)
    row = (await session.execute(query)).mappings().first()
    return booking_of(row) if row else None


async def code_taken(session: AsyncSession, code: str) -> bool:
    return bool((await session.execute(sa.select(sa.literal(True)).where(bookings.c.booking_code == code))).scalar())


async def link_rebooking(session: AsyncSession, old_id: uuid.UUID, new_id: uuid.UUID) -> None:
    await session.execute(sa.update(bookings).where(bookings.c.id == old_id).values(rebooked_to=new_id))


def filtered(query: sa.Select, tenant_id: str, *, states: tuple[str, ...] | None = None,
             technician_id: uuid.UUID | None = None, service: str | None = None,
             starts_from: datetime | None = None, starts_before: datetime | None = None) -> sa.Select:
    """`query` narrowed to the tenant's bookings by state and filters, in the technician's booking
    order within the day."""
    query = query.where(bookings.c.tenant_id == tenant_id)
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
    return query.order_by(local_day(), bookings.c.sequence.nulls_last(), bookings.c.starts_at)


ENDED = ("cancelled", "completed", "no-show", "deleted")


def local_day() -> sa.ColumnElement:
    """The calendar day a booking starts on in its tenant's zone (a 00:30 visit in Stockholm is
    on that day, not on the UTC day before)."""
    zone = sa.select(tenants.c.time_zone).where(tenants.c.id == bookings.c.tenant_id).correlate_except(tenants).scalar_subquery()
    return sa.cast(sa.func.timezone(zone, bookings.c.starts_at), sa.Date)


async def bookings_for_update(session: AsyncSession, tenant_id: str, ids: list[uuid.UUID]) -> list[Booking]:
    """The tenant's bookings of `ids`, locked, by start."""
    query = with_customer().where(bookings.c.tenant_id == tenant_id, bookings.c.id.in_(ids)).order_by(
        bookings.c.starts_at).with_for_update(of=bookings)
    return [booking_of(r) for r in (await session.execute(query)).mappings()]


async def bookings_where_for_update(session: AsyncSession, tenant_id: str, *, states: tuple[str, ...],
                                    technician_id: uuid.UUID | None = None, starts_from: datetime | None = None,
                                    starts_before: datetime | None = None, limit: int = 1000) -> list[Booking]:
    """The tenant's bookings in `states` (of one technician, starting in a window), locked."""
    query = filtered(with_customer(), tenant_id, states=states, technician_id=technician_id, starts_from=starts_from,
                     starts_before=starts_before).limit(limit).with_for_update(of=bookings)
    return [booking_of(r) for r in (await session.execute(query)).mappings()]


# --- history, replies, reminders -------------------------------------------------------------


async def add_history(session: AsyncSession, booking_id: uuid.UUID, from_state: str, to_state: str, transition: str,
                      actor: str, reason: str | None, at: datetime) -> None:
    await session.execute(sa.insert(booking_history).values(
        booking_id=booking_id, from_state=from_state, to_state=to_state, transition=transition, actor=actor, reason=reason, at=at))


async def reply_known(session: AsyncSession, reply_id: uuid.UUID) -> bool:
    """True when this reply was handled before (a provider may deliver one reply twice)."""
    return bool((await session.execute(sa.select(sa.literal(True)).where(replies.c.reply_id == reply_id))).scalar())


async def add_reply(session: AsyncSession, *, reply_id: uuid.UUID, tenant_id: str, booking_id: uuid.UUID | None,
                    sender: str, text: str, code: str | None, outcome: str, received_at: datetime) -> None:
    await session.execute(sa.insert(replies).values(reply_id=reply_id, tenant_id=tenant_id, booking_id=booking_id,
                                                    sender=sender, text=text, code=code, outcome=outcome, received_at=received_at))


UNKNOWN_CODE = "unknown code"
"""The outcome of a reply whose code matched no order."""


async def unknown_codes_from(session: AsyncSession, tenant_id: str, sender: str, since: datetime) -> int:
    """How many replies from `sender` since `since` matched no order (guesses, or mistakes)."""
    query = sa.select(sa.func.count()).select_from(replies).where(
        replies.c.tenant_id == tenant_id, replies.c.sender == sender, replies.c.received_at >= since,
        replies.c.booking_id.is_(None))
    return int((await session.execute(query)).scalar_one())


async def add_reminder_received(session: AsyncSession, booking_id: uuid.UUID, timer_key: str, due_at: datetime, fired_at: datetime, lateness_ms: int) -> None:
    stmt = pg.insert(reminders_received).values(
        booking_id=booking_id, timer_key=timer_key, due_at=due_at, fired_at=fired_at, lateness_ms=lateness_ms
    )
    await session.execute(stmt.on_conflict_do_nothing())


# --- idempotency keys and failed links --------------------------------------------------------


class KeyUse(NamedTuple):
    """What an idempotency key was first used for."""

    fingerprint: str
    resource_id: uuid.UUID | None


async def claim_key(session: AsyncSession, tenant_id: str, key: str, fingerprint: str, at: datetime) -> KeyUse | None:
    """Claim `key` for a request with `fingerprint`: None when it is new (the caller goes on and
    `remember_resource`s what it made), else what it was first used for. A concurrent request
    with the same key waits here until the first one's transaction ends."""
    claimed = await session.execute(
        pg.insert(idempotency_keys).values(tenant_id=tenant_id, key=key, fingerprint=fingerprint, created_at=at)
        .on_conflict_do_nothing().returning(idempotency_keys.c.key))
    if claimed.first() is not None:
        return None
    row = (await session.execute(
        sa.select(idempotency_keys.c.fingerprint, idempotency_keys.c.resource_id)
        .where(idempotency_keys.c.tenant_id == tenant_id, idempotency_keys.c.key == key))).one()
    return KeyUse(row.fingerprint, row.resource_id)


async def remember_resource(session: AsyncSession, tenant_id: str, key: str, resource_id: uuid.UUID) -> None:
    await session.execute(sa.update(idempotency_keys).where(
        idempotency_keys.c.tenant_id == tenant_id, idempotency_keys.c.key == key).values(resource_id=resource_id))


async def add_failed_link(session: AsyncSession, address: str, at: datetime) -> None:
    await session.execute(sa.insert(failed_links).values(address=address, at=at))


async def failed_links_since(session: AsyncSession, address: str, since: datetime) -> tuple[int, datetime | None]:
    """How many links from `address` failed since `since`, and when the earliest of them was."""
    row = (await session.execute(
        sa.select(sa.func.count(), sa.func.min(failed_links.c.at))
        .where(failed_links.c.address == address, failed_links.c.at >= since))).one()
    return int(row[0]), row[1]


async def forget_before(session: AsyncSession, *, keys_before: datetime, links_before: datetime) -> None:
    """Drop idempotency keys and failed links older than they are needed."""
    await session.execute(sa.delete(idempotency_keys).where(idempotency_keys.c.created_at < keys_before))
    await session.execute(sa.delete(failed_links).where(failed_links.c.at < links_before))


# --- the service catalog ---------------------------------------------------------------------

_CATALOG_FIELDS = ("name", "duration_minutes", "price_incl_vat", "vat_rate", "article_numbers", "description", "link",
                   "offered_at_checkin", "bookable_online")


def catalog_service_of(row: Any) -> CatalogService:
    return CatalogService(service=row["service"], **{f: row[f] for f in _CATALOG_FIELDS})


async def catalog(session: AsyncSession, tenant_id: str) -> list[CatalogService]:
    query = sa.select(catalog_services).where(catalog_services.c.tenant_id == tenant_id).order_by(catalog_services.c.service)
    return [catalog_service_of(r) for r in (await session.execute(query)).mappings()]


async def catalog_service(session: AsyncSession, tenant_id: str, service: str) -> CatalogService | None:
    query = sa.select(catalog_services).where(catalog_services.c.tenant_id == tenant_id, catalog_services.c.service == service)
    row = (await session.execute(query)).mappings().first()
    return catalog_service_of(row) if row else None


async def save_catalog_service(session: AsyncSession, tenant_id: str, entry: CatalogService) -> None:
    values = {f: getattr(entry, f) for f in _CATALOG_FIELDS} | {"updated_at": sa.func.now()}
    stmt = pg.insert(catalog_services).values(tenant_id=tenant_id, service=entry.service, **values)
    await session.execute(stmt.on_conflict_do_update(index_elements=[catalog_services.c.tenant_id, catalog_services.c.service], set_=values))


async def remove_catalog_service(session: AsyncSession, tenant_id: str, service: str) -> bool:
    removed = await session.execute(sa.delete(catalog_services).where(
        catalog_services.c.tenant_id == tenant_id, catalog_services.c.service == service).returning(catalog_services.c.service))
    return removed.first() is not None


async def lock_catalog(session: AsyncSession, tenant_id: str) -> None:
    """Serialise changes of one tenant's catalog, so each `catalog.updated` is the catalog as committed."""
    await session.execute(sa.select(sa.func.pg_advisory_xact_lock(sa.func.hashtextextended(f"catalog:{tenant_id}", 0))))


# --- the communication log -------------------------------------------------------------------

_STATUS_TIMES = {"sent": "sent_at", "delivered": "delivered_at", "failed": "failed_at", "withdrawn": "withdrawn_at"}


@dataclass(frozen=True)
class MessageStatus:
    """One status of one message to a customer, as `notification.status` reports it."""

    tenant_id: str
    message_id: uuid.UUID
    booking_id: uuid.UUID | None
    customer_id: uuid.UUID
    channel: str
    template_key: str | None
    status: str
    at: datetime
    reason: str | None
    provider: str | None
    segments: int | None
    cost: Any
    currency: str | None

    def row(self) -> tuple[Any, ...]:
        """The status as a row of `_STATUS_COLUMNS`."""
        stamps = tuple(self.at if status == self.status else None for status in _STATUS_TIMES)
        history = json.dumps([{"status": self.status, "at": self.at.isoformat(), "reason": self.reason}])
        return (self.message_id, self.tenant_id, self.booking_id, self.customer_id, self.channel, self.template_key, self.status,
                self.at, self.reason, self.provider, self.segments, self.cost, self.currency, self.at, *stamps, history)


async def record_message_statuses(session: AsyncSession, statuses: list[MessageStatus]) -> None:
    """Keep messages' statuses (A6, X4), a batch in one statement per round. Statuses may come
    late or twice: the latest by time is the message's status, every one is kept in its history
    once, and cost, provider and segments stay once known. One statement may touch a row once,
    so a message's second status in the batch goes in the next round, and so on, in order."""
    rounds: list[list[tuple[Any, ...]]] = []
    seen: dict[uuid.UUID, int] = {}
    async for status in in_turns(statuses):
        n = seen[status.message_id] = seen.get(status.message_id, -1) + 1
        if n == len(rounds):
            rounds.append([])
        rounds[n].append(status.row())
    for rows in rounds:
        await session.execute(_STATUS_UPSERT, dict(zip(_STATUS_COLUMNS, map(list, zip(*rows, strict=True)), strict=True)))


# Statuses come two or three per message sent, in batches of hundreds: bound as one array per
# column, so the statement is compiled once (SQLAlchemy compiles a many-row VALUES anew for each
# batch size, and that took a third of the service's time in the rush).
_STATUS_COLUMNS = {
    "message_id": "uuid", "tenant_id": "text", "booking_id": "uuid", "customer_id": "uuid", "channel": "text",
    "template_key": "text", "status": "text", "status_at": "timestamptz", "reason": "text", "provider": "text",
    "segments": "integer", "cost": "numeric", "currency": "text", "created_at": "timestamptz",
    **{column: "timestamptz" for column in _STATUS_TIMES.values()}, "history": "jsonb",
}
_NEWER = "EXCLUDED.status_at >= m.status_at"
_STATUS_UPSERT = sa.text(
    f"INSERT INTO messages AS m ({', '.join(_STATUS_COLUMNS)}) SELECT * FROM {unnest(_STATUS_COLUMNS)} "
    "ON CONFLICT (message_id) DO UPDATE SET "
    f"status = CASE WHEN {_NEWER} THEN EXCLUDED.status ELSE m.status END, "
    "status_at = greatest(m.status_at, EXCLUDED.status_at), "
    f"reason = CASE WHEN {_NEWER} THEN EXCLUDED.reason ELSE m.reason END, "
    f"channel = CASE WHEN {_NEWER} THEN EXCLUDED.channel ELSE m.channel END, "
    "provider = coalesce(EXCLUDED.provider, m.provider), segments = coalesce(EXCLUDED.segments, m.segments), "
    "cost = coalesce(EXCLUDED.cost, m.cost), currency = coalesce(EXCLUDED.currency, m.currency), "
    "template_key = coalesce(m.template_key, EXCLUDED.template_key), booking_id = coalesce(m.booking_id, EXCLUDED.booking_id), "
    "created_at = least(m.created_at, EXCLUDED.created_at), "
    "history = CASE WHEN m.history @> EXCLUDED.history THEN m.history ELSE m.history || EXCLUDED.history END, "
    + ", ".join(f"{column} = coalesce(m.{column}, EXCLUDED.{column})" for column in _STATUS_TIMES.values())
)


async def add_log_entry(session: AsyncSession, tenant_id: str, *, kind: str, at: datetime, text: str,
                        customer_id: uuid.UUID | None = None, booking_id: uuid.UUID | None = None,
                        details: dict[str, Any] | None = None, dedupe_key: str | None = None) -> None:
    """A line in the communication log besides messages; the same `dedupe_key` twice is kept once."""
    stmt = pg.insert(log_entries).values(tenant_id=tenant_id, customer_id=customer_id, booking_id=booking_id, kind=kind, at=at,
                                         text=text, details=details or {}, dedupe_key=dedupe_key)
    await session.execute(stmt.on_conflict_do_nothing())


# --- check-in comments shared with mechanics -------------------------------------------------


async def share_comment(session: AsyncSession, tenant_id: str, *, booking_id: uuid.UUID, comment_id: uuid.UUID, visible: bool,
                        subject: str, description: str, files: list[dict[str, Any]]) -> None:
    values = dict(booking_id=booking_id, visible=visible, subject=subject, description=description, files=files, updated_at=sa.func.now())
    stmt = pg.insert(shared_comments).values(comment_id=comment_id, tenant_id=tenant_id, **values)
    await session.execute(stmt.on_conflict_do_update(index_elements=[shared_comments.c.comment_id], set_=values))


# --- commands applied by request id ----------------------------------------------------------


async def applied_result(session: AsyncSession, tenant_id: str, request_id: uuid.UUID) -> dict[str, Any] | None:
    """The answer given to a command with this request id, or None when it is new."""
    query = sa.select(applied_requests.c.result).where(applied_requests.c.tenant_id == tenant_id,
                                                       applied_requests.c.request_id == request_id)
    return (await session.execute(query)).scalar()


async def remember_result(session: AsyncSession, tenant_id: str, request_id: uuid.UUID, command: str, result: dict[str, Any]) -> None:
    await session.execute(pg.insert(applied_requests).values(tenant_id=tenant_id, request_id=request_id, command=command, result=result))


# === staff accounts ==========================================================================
# Staff who log in to the console (issue 13): their accounts, the one-time links that set a
# password, the sessions a login starts, and failed logins for the lockout. Used only by
# `accounts.py`; no other table refers to these.

staff_accounts = sa.Table(
    "staff_accounts", metadata,
    sa.Column("id", UUID, primary_key=True),
    sa.Column("tenant_id", sa.Text, nullable=False),
    sa.Column("email", sa.Text, nullable=False),  # kept in lower case
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("roles", pg.ARRAY(sa.Text), nullable=False),
    sa.Column("language", sa.Text),
    sa.Column("technician_id", UUID),
    sa.Column("password_hash", sa.Text),  # argon2id; empty until the account's link is used
    sa.Column("created_at", Instant, nullable=False),
    sa.Column("removed_at", Instant),
    sa.Index("staff_accounts_email", "tenant_id", "email", unique=True, postgresql_where=sa.text("removed_at IS NULL")),
)

staff_links = sa.Table(
    "staff_links", metadata,
    sa.Column("token_hash", sa.Text, primary_key=True),  # SHA-256 of the link's secret; the secret is never kept
    sa.Column("tenant_id", sa.Text, nullable=False),
    sa.Column("staff_id", UUID, nullable=False),
    sa.Column("purpose", sa.Text, nullable=False),  # invitation | reset
    sa.Column("created_at", Instant, nullable=False),
    sa.Column("expires_at", Instant, nullable=False),
    sa.Column("used_at", Instant),
)

staff_sessions = sa.Table(
    "staff_sessions", metadata,
    sa.Column("secret_hash", sa.Text, primary_key=True),  # SHA-256 of the session's secret
    sa.Column("tenant_id", sa.Text, nullable=False),
    sa.Column("staff_id", UUID, nullable=False),
    sa.Column("started_at", Instant, nullable=False),
    sa.Column("expires_at", Instant, nullable=False),
    sa.Column("ended_at", Instant),
    sa.Index("staff_sessions_staff", "staff_id"),
)

staff_login_failures = sa.Table(
    "staff_login_failures", metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("account_key", sa.Text, nullable=False),  # tenant and e-mail, keyed (also for e-mails no account has)
    sa.Column("address", sa.Text, nullable=False),  # the client's address, keyed
    sa.Column("at", Instant, nullable=False),
    sa.Index("staff_login_failures_account", "account_key", "at"),
    sa.Index("staff_login_failures_address", "address", "at"),
)


class StaffAccount(NamedTuple):
    id: uuid.UUID
    tenant_id: str
    email: str
    name: str
    roles: tuple[str, ...]
    language: str | None
    technician_id: uuid.UUID | None
    password_hash: str | None
    created_at: datetime
    removed_at: datetime | None


class StaffLink(NamedTuple):
    tenant_id: str
    staff_id: uuid.UUID
    purpose: str
    expires_at: datetime
    used_at: datetime | None


class StaffSession(NamedTuple):
    tenant_id: str
    staff_id: uuid.UUID
    started_at: datetime
    expires_at: datetime
    ended_at: datetime | None


def _staff_of(row: Any) -> StaffAccount:
    return StaffAccount(**{k: row[k] for k in StaffAccount._fields} | {"roles": tuple(row["roles"])})


async def add_staff(session: AsyncSession, account: StaffAccount) -> None:
    await session.execute(sa.insert(staff_accounts).values(**account._asdict() | {"roles": list(account.roles)}))


async def staff_by_id(session: AsyncSession, tenant_id: str, staff_id: uuid.UUID, *, lock: bool = False) -> StaffAccount | None:
    """The tenant's account (also a removed one), or None."""
    query = sa.select(staff_accounts).where(staff_accounts.c.id == staff_id, staff_accounts.c.tenant_id == tenant_id)
    row = (await session.execute(query.with_for_update() if lock else query)).mappings().first()
    return _staff_of(row) if row else None


async def staff_by_email(session: AsyncSession, tenant_id: str, email: str) -> StaffAccount | None:
    """The tenant's current (not removed) account with this e-mail, or None."""
    query = sa.select(staff_accounts).where(staff_accounts.c.tenant_id == tenant_id, staff_accounts.c.email == email,
                                            staff_accounts.c.removed_at.is_(None))
    row = (await session.execute(query)).mappings().first()
    return _staff_of(row) if row else None


async def staff_of_tenant(session: AsyncSession, tenant_id: str) -> list[StaffAccount]:
    """The tenant's current accounts, by name."""
    query = sa.select(staff_accounts).where(staff_accounts.c.tenant_id == tenant_id, staff_accounts.c.removed_at.is_(None))
    return [_staff_of(r) for r in (await session.execute(query.order_by(staff_accounts.c.name, staff_accounts.c.email))).mappings()]


async def update_staff(session: AsyncSession, staff_id: uuid.UUID, **values: Any) -> None:
    if "roles" in values:
        values["roles"] = list(values["roles"])
    await session.execute(sa.update(staff_accounts).where(staff_accounts.c.id == staff_id).values(**values))


async def add_staff_link(session: AsyncSession, token_hash: str, tenant_id: str, staff_id: uuid.UUID, purpose: str,
                         at: datetime, expires_at: datetime) -> None:
    """A new one-time link for the account; its earlier unused links stop working."""
    await session.execute(sa.update(staff_links).where(staff_links.c.staff_id == staff_id, staff_links.c.used_at.is_(None))
                          .values(used_at=at))
    await session.execute(sa.insert(staff_links).values(token_hash=token_hash, tenant_id=tenant_id, staff_id=staff_id,
                                                        purpose=purpose, created_at=at, expires_at=expires_at))


async def staff_link(session: AsyncSession, token_hash: str, *, lock: bool = False) -> StaffLink | None:
    query = sa.select(staff_links).where(staff_links.c.token_hash == token_hash)
    row = (await session.execute(query.with_for_update() if lock else query)).mappings().first()
    return StaffLink(**{k: row[k] for k in StaffLink._fields}) if row else None


async def use_staff_link(session: AsyncSession, token_hash: str, at: datetime) -> None:
    await session.execute(sa.update(staff_links).where(staff_links.c.token_hash == token_hash).values(used_at=at))


async def end_staff_links(session: AsyncSession, staff_id: uuid.UUID, at: datetime) -> None:
    await session.execute(sa.update(staff_links).where(staff_links.c.staff_id == staff_id, staff_links.c.used_at.is_(None))
                          .values(used_at=at))


async def add_staff_session(session: AsyncSession, secret_hash: str, tenant_id: str, staff_id: uuid.UUID, at: datetime,
                            expires_at: datetime) -> None:
    await session.execute(sa.insert(staff_sessions).values(secret_hash=secret_hash, tenant_id=tenant_id, staff_id=staff_id,
                                                           started_at=at, expires_at=expires_at))


async def staff_session(session: AsyncSession, secret_hash: str) -> StaffSession | None:
    row = (await session.execute(sa.select(staff_sessions).where(staff_sessions.c.secret_hash == secret_hash))).mappings().first()
    return StaffSession(**{k: row[k] for k in StaffSession._fields}) if row else None


async def end_staff_sessions(session: AsyncSession, at: datetime, *, secret_hash: str | None = None,
                             staff_id: uuid.UUID | None = None) -> None:
    """End one session (logging out), or every session of an account (removed, reset, new roles)."""
    query = sa.update(staff_sessions).where(staff_sessions.c.ended_at.is_(None)).values(ended_at=at)
    if secret_hash is not None:
        query = query.where(staff_sessions.c.secret_hash == secret_hash)
    if staff_id is not None:
        query = query.where(staff_sessions.c.staff_id == staff_id)
    await session.execute(query)


async def add_login_failure(session: AsyncSession, account_key: str, address: str, at: datetime) -> None:
    await session.execute(sa.insert(staff_login_failures).values(account_key=account_key, address=address, at=at))


async def login_failures_since(session: AsyncSession, since: datetime, *, account_key: str | None = None,
                               address: str | None = None) -> tuple[int, datetime | None]:
    """How many logins failed since `since` for the account (or from the address), and the latest."""
    column, value = (staff_login_failures.c.account_key, account_key) if account_key else (staff_login_failures.c.address, address)
    row = (await session.execute(sa.select(sa.func.count(), sa.func.max(staff_login_failures.c.at))
                                 .where(column == value, staff_login_failures.c.at >= since))).one()
    return int(row[0]), row[1]


async def forget_login_failures(session: AsyncSession, *, account_key: str | None = None, before: datetime | None = None) -> None:
    """Failures of an account that just logged in, or all older than the lockout window."""
    query = sa.delete(staff_login_failures)
    if account_key is not None:
        query = query.where(staff_login_failures.c.account_key == account_key)
    if before is not None:
        query = query.where(staff_login_failures.c.at < before)
    await session.execute(query)


# --- timers handed back in batches (issue 17) --------------------------------------------------


async def tenants_by_id(session: AsyncSession, ids: set[str]) -> dict[str, Tenant]:
    """The tenants of `ids` the service has, by id."""
    if not ids:
        return {}
    rows = (await session.execute(sa.select(tenants).where(tenants.c.id.in_(sorted(ids))))).mappings()
    return {row["id"]: tenant_of(row) for row in rows}


async def bookings_locked(session: AsyncSession, keys: list[tuple[str, uuid.UUID]]) -> dict[tuple[str, uuid.UUID], Booking]:
    """The bookings of (tenant, booking id) pairs, locked for a change in id order (two batches
    never wait on each other crosswise), by (tenant, id); a pair the service lacks is left out."""
    if not keys:
        return {}
    wanted = set(keys)
    query = with_customer().where(bookings.c.id.in_(sorted({b for _, b in keys}))).order_by(bookings.c.id).with_for_update(of=bookings)
    found = (booking_of(r) for r in (await session.execute(query)).mappings())
    return {(b.tenant_id, b.id): b for b in found if (b.tenant_id, b.id) in wanted}


async def add_reminders_received(session: AsyncSession, rows: list[tuple[uuid.UUID, str, datetime, datetime, int]]) -> None:
    """`add_reminder_received` for many (booking id, timer key, due, fired, lateness ms) in one statement."""
    if rows:
        await session.execute(_ADD_REMINDERS_RECEIVED, dict(zip(_REMINDER_COLUMNS, map(list, zip(*rows, strict=True)), strict=True)))


_REMINDER_COLUMNS = {"booking_id": "uuid", "timer_key": "text", "due_at": "timestamptz", "fired_at": "timestamptz", "lateness_ms": "bigint"}
_ADD_REMINDERS_RECEIVED = sa.text(  # arrays, as for statuses: compiled once whatever the batch's size
    f"INSERT INTO reminders_received ({', '.join(_REMINDER_COLUMNS)}) SELECT * FROM {unnest(_REMINDER_COLUMNS)} ON CONFLICT DO NOTHING")
