"""The recall service's copy of what other services announce: tenants, customers and their
bookings, and how far this service's replicas have read `booking.created`.

Every write here is order-proof: a booking keeps the change with the highest version whichever
event arrives last; a customer's contact details and consent keep the newest snapshot by the
event's instant; `booking.created`'s own facts (when it was made, its source) fill in whenever
that event comes, before or after the booking's state changes.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg
from sqlalchemy.ext.asyncio import AsyncSession

from bookflow_contracts import Address, BookingSnapshot, CustomerSnapshot
from bookflow_recall.domain.book_again import Customer
from bookflow_recall.storage.tables import booking_history, consumer_progress, customers, tenants
from bookflow_recall.views import SOURCE_LABELS, HistoryBooking

# --- tenants ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Tenant:
    tenant_id: str
    name: str
    time_zone: str
    language: str


async def save_tenant(session: AsyncSession, tenant: Tenant, at: datetime) -> None:
    """Keep the tenant's name, zone and language (the newest `tenant.updated` wins)."""
    stmt = pg.insert(tenants).values(tenant_id=tenant.tenant_id, name=tenant.name, time_zone=tenant.time_zone,
                                     language=tenant.language, updated_at=at)
    await session.execute(stmt.on_conflict_do_update(
        index_elements=[tenants.c.tenant_id],
        set_={"name": stmt.excluded.name, "time_zone": stmt.excluded.time_zone, "language": stmt.excluded.language,
              "updated_at": stmt.excluded.updated_at},
        where=tenants.c.updated_at <= stmt.excluded.updated_at,
    ))


async def tenant(session: AsyncSession, tenant_id: str) -> Tenant | None:
    row = (await session.execute(sa.select(tenants.c.tenant_id, tenants.c.name, tenants.c.time_zone, tenants.c.language)
                                 .where(tenants.c.tenant_id == tenant_id))).first()
    return Tenant(*row) if row else None


# --- customers -------------------------------------------------------------------------------

_CONTACT = ("name", "phone", "email", "language", "preferred_channel", "address", "customer_number")


def _contact(snapshot: CustomerSnapshot) -> dict[str, Any]:
    return {
        "name": snapshot.name, "phone": snapshot.phone, "email": snapshot.email, "language": snapshot.language,
        "preferred_channel": snapshot.preferred_channel, "customer_number": snapshot.customer_number,
        "address": snapshot.address.model_dump(mode="json") if snapshot.address else None,
    }


async def save_customer(session: AsyncSession, tenant_id: str, snapshot: CustomerSnapshot, at: datetime, *,
                        consent: bool | None, consent_changed_at: datetime | None, contact_changed: bool) -> None:
    """Keep a `customer.updated`: contact and consent as of `at`, unless a newer one is kept;
    `contact_changed` (name, e-mail or phone named as changed) moves `contact_changed_at` forward."""
    stmt = pg.insert(customers).values(
        tenant_id=tenant_id, customer_id=snapshot.customer_id, **_contact(snapshot), contact_at=at,
        contact_changed_at=at if contact_changed else None, marketing_consent=consent, consent_at=at,
        consent_changed_at=consent_changed_at,
    )
    newer_contact = customers.c.contact_at <= stmt.excluded.contact_at
    newer_consent = sa.or_(customers.c.consent_at.is_(None), customers.c.consent_at <= stmt.excluded.consent_at)
    await session.execute(stmt.on_conflict_do_update(
        index_elements=[customers.c.tenant_id, customers.c.customer_id],
        set_={
            **{name: sa.case((newer_contact, stmt.excluded[name]), else_=customers.c[name]) for name in _CONTACT},
            "contact_at": sa.func.greatest(customers.c.contact_at, stmt.excluded.contact_at),
            "contact_changed_at": sa.func.greatest(customers.c.contact_changed_at, stmt.excluded.contact_changed_at),
            "marketing_consent": sa.case((newer_consent, stmt.excluded.marketing_consent), else_=customers.c.marketing_consent),
            "consent_changed_at": sa.case((newer_consent, stmt.excluded.consent_changed_at), else_=customers.c.consent_changed_at),
            "consent_at": sa.case((newer_consent, stmt.excluded.consent_at), else_=customers.c.consent_at),
        },
    ))


async def note_customer(session: AsyncSession, tenant_id: str, snapshot: CustomerSnapshot, at: datetime) -> None:
    """A booking's snapshot of its customer: contact details if newer than those kept; consent is
    never read from it (only `customer.updated` records consent)."""
    stmt = pg.insert(customers).values(tenant_id=tenant_id, customer_id=snapshot.customer_id, **_contact(snapshot), contact_at=at)
    await session.execute(stmt.on_conflict_do_update(
        index_elements=[customers.c.tenant_id, customers.c.customer_id],
        set_={**{name: stmt.excluded[name] for name in _CONTACT}, "contact_at": stmt.excluded.contact_at},
        where=customers.c.contact_at < stmt.excluded.contact_at,
    ))


def snapshot_of(row: Any, customer_id: uuid.UUID | None = None) -> CustomerSnapshot:
    """A customers row (or a row with its columns, empty for an unknown customer) as a snapshot;
    built without validating again what was validated when it was stored (the evaluation makes
    one per recall)."""
    return CustomerSnapshot.model_construct(
        customer_id=customer_id or row.customer_id, name=row.name, phone=row.phone, email=row.email, language=row.language,
        preferred_channel=row.preferred_channel, customer_number=row.customer_number,
        address=Address.model_validate(row.address) if row.address else None,
    )


async def customer(session: AsyncSession, tenant_id: str, customer_id: uuid.UUID) -> tuple[Customer, CustomerSnapshot] | None:
    """The customer as book-again reads it, and their contact details for a message."""
    row = (await session.execute(sa.select(customers).where(
        customers.c.tenant_id == tenant_id, customers.c.customer_id == customer_id))).first()
    if row is None:
        return None
    facts = Customer(row.customer_id, row.name, row.phone, row.marketing_consent, row.consent_changed_at, row.contact_changed_at)
    return facts, snapshot_of(row)


async def customer_by_number(session: AsyncSession, tenant_id: str, number: str) -> uuid.UUID | None:
    return (await session.execute(sa.select(customers.c.customer_id).where(
        customers.c.tenant_id == tenant_id, customers.c.customer_number == number).limit(1))).scalar()


async def snapshots(session: AsyncSession, tenant_id: str, customer_ids: list[uuid.UUID]) -> dict[uuid.UUID, CustomerSnapshot]:
    rows = await session.execute(sa.select(customers).where(
        customers.c.tenant_id == tenant_id, customers.c.customer_id == sa.func.any(sa.literal(customer_ids, pg.ARRAY(pg.UUID)))))
    return {row.customer_id: snapshot_of(row) for row in rows}


# --- bookings --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Booking:
    booking_id: uuid.UUID
    tenant_id: str
    customer_id: uuid.UUID
    service: str
    starts_at: datetime
    state: str
    version: int
    source: str
    source_ref: str | None
    booked_at: datetime | None


_BOOKING_COLUMNS = (booking_history.c.booking_id, booking_history.c.tenant_id, booking_history.c.customer_id,
                    booking_history.c.service, booking_history.c.starts_at, booking_history.c.state, booking_history.c.version,
                    booking_history.c.source, booking_history.c.source_ref, booking_history.c.booked_at)


async def record_created(session: AsyncSession, tenant_id: str, *, booking_id: uuid.UUID, customer_id: uuid.UUID, service: str,
                         starts_at: datetime, ends_at: datetime, state: str, version: int, source: str, source_ref: str | None,
                         booked_at: datetime) -> None:
    """Keep a `booking.created`. If a later change arrived first, its state stays; the creation's
    own facts (when it was made, its source) are added."""
    stmt = pg.insert(booking_history).values(
        booking_id=booking_id, tenant_id=tenant_id, customer_id=customer_id, service=service, starts_at=starts_at,
        ends_at=ends_at, state=state, version=version, source=source, source_ref=source_ref, booked_at=booked_at,
        updated_at=sa.func.now(),
    )
    newer = booking_history.c.version < stmt.excluded.version
    await session.execute(stmt.on_conflict_do_update(
        index_elements=[booking_history.c.booking_id],
        set_={
            "booked_at": sa.func.coalesce(booking_history.c.booked_at, stmt.excluded.booked_at),
            "source": stmt.excluded.source, "source_ref": stmt.excluded.source_ref,
            **{name: sa.case((newer, stmt.excluded[name]), else_=booking_history.c[name])
               for name in ("state", "starts_at", "ends_at", "service", "version")},
            "updated_at": sa.func.now(),
        },
        where=booking_history.c.tenant_id == tenant_id,
    ))


async def record_change(session: AsyncSession, tenant_id: str, snapshot: BookingSnapshot) -> bool:
    """Keep the booking as an `order.transitioned` left it, unless a newer version is kept;
    True if this snapshot is now the kept one."""
    stmt = pg.insert(booking_history).values(
        booking_id=snapshot.booking_id, tenant_id=tenant_id, customer_id=snapshot.customer_id, service=snapshot.service,
        starts_at=snapshot.starts_at, ends_at=snapshot.ends_at, state=snapshot.state, version=snapshot.version,
        source=snapshot.source, updated_at=sa.func.now(),
    )
    result = await session.execute(stmt.on_conflict_do_update(
        index_elements=[booking_history.c.booking_id],
        set_={name: stmt.excluded[name] for name in ("customer_id", "service", "starts_at", "ends_at", "state", "version", "updated_at")},
        where=sa.and_(booking_history.c.version < stmt.excluded.version, booking_history.c.tenant_id == tenant_id),
    ).returning(booking_history.c.booking_id))
    return result.first() is not None


async def record_state(session: AsyncSession, tenant_id: str, booking_id: uuid.UUID, from_state: str, to_state: str) -> bool:
    """An `order.transitioned` without a snapshot (version 1): the state moves only from the one it names."""
    result = await session.execute(
        sa.update(booking_history)
        .where(booking_history.c.booking_id == booking_id, booking_history.c.tenant_id == tenant_id,
               booking_history.c.state == from_state)
        .values(state=to_state, updated_at=sa.func.now()).returning(booking_history.c.booking_id))
    return result.first() is not None


async def booking(session: AsyncSession, tenant_id: str, booking_id: uuid.UUID) -> Booking | None:
    row = (await session.execute(sa.select(*_BOOKING_COLUMNS).where(
        booking_history.c.booking_id == booking_id, booking_history.c.tenant_id == tenant_id))).first()
    return Booking(*row) if row else None


async def first_booked_after(session: AsyncSession, tenant_id: str, customer_id: uuid.UUID, after: datetime,
                             until: datetime | None = None) -> Booking | None:
    """The customer's first booking made after `after` (and not after `until`)."""
    query = (sa.select(*_BOOKING_COLUMNS)
             .where(booking_history.c.tenant_id == tenant_id, booking_history.c.customer_id == customer_id,
                    booking_history.c.booked_at > after)
             .order_by(booking_history.c.booked_at).limit(1))
    if until is not None:
        query = query.where(booking_history.c.booked_at <= until)
    row = (await session.execute(query)).first()
    return Booking(*row) if row else None


# --- how far the replicas have read ----------------------------------------------------------


async def report_progress(session: AsyncSession, replica: str, consumer: str, caught_up_at: datetime | None,
                          partitions: frozenset[int], topic_partitions: frozenset[int], now: datetime) -> None:
    stmt = pg.insert(consumer_progress).values(replica=replica, consumer=consumer, caught_up_at=caught_up_at,
                                               partitions=sorted(partitions), topic_partitions=sorted(topic_partitions), seen_at=now)
    await session.execute(stmt.on_conflict_do_update(
        index_elements=[consumer_progress.c.replica, consumer_progress.c.consumer],
        set_={"caught_up_at": stmt.excluded.caught_up_at, "partitions": stmt.excluded.partitions,
              "topic_partitions": stmt.excluded.topic_partitions, "seen_at": stmt.excluded.seen_at},
    ))


async def caught_up_everywhere(session: AsyncSession, consumer: str, now: datetime, stale: timedelta) -> datetime | None:
    """The instant before which everything published on every partition of the consumer's topic
    has been handled by some live replica (None while some partition is not covered). Each
    replica's report is a true statement about the partitions it names, so for each partition
    the latest report counts, and the topic as a whole is as far as its slowest partition."""
    rows = (await session.execute(
        sa.select(consumer_progress.c.caught_up_at, consumer_progress.c.partitions, consumer_progress.c.topic_partitions)
        .where(consumer_progress.c.consumer == consumer, consumer_progress.c.seen_at > now - stale,
               consumer_progress.c.caught_up_at.is_not(None)))).all()
    if not rows:
        return None
    every = set().union(*(row.topic_partitions for row in rows))
    best: dict[int, datetime] = {}
    for row in rows:
        for partition in row.partitions:
            if partition not in best or best[partition] < row.caught_up_at:
                best[partition] = row.caught_up_at
    if not every or every - set(best):
        return None
    return min(best[p] for p in every)


async def forget_replica(session: AsyncSession, replica: str) -> None:
    await session.execute(sa.delete(consumer_progress).where(consumer_progress.c.replica == replica))


async def history_of(session: AsyncSession, tenant_id: str, customer_id: uuid.UUID) -> list[HistoryBooking]:
    """The customer's bookings as recall keeps them, oldest first (D5: with their source)."""
    rows = await session.execute(
        sa.select(booking_history)
        .where(booking_history.c.tenant_id == tenant_id, booking_history.c.customer_id == customer_id)
        .order_by(booking_history.c.starts_at)
    )
    return [HistoryBooking(**row._mapping, source_label=SOURCE_LABELS.get(row.source, row.source)) for row in rows]
