"""The booking service's tables and queries."""
from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg
from sqlalchemy.ext.asyncio import AsyncSession

from bookflow_booking.domain import Booking

metadata = sa.MetaData()

customers = sa.Table(
    "customers", metadata,
    sa.Column("id", pg.UUID(as_uuid=True), primary_key=True),
    sa.Column("tenant_id", sa.Text, nullable=False),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("phone", sa.Text),
    sa.Column("email", sa.Text),
    sa.Column("language", sa.Text),
)

bookings = sa.Table(
    "bookings", metadata,
    sa.Column("id", pg.UUID(as_uuid=True), primary_key=True),
    sa.Column("tenant_id", sa.Text, nullable=False),
    sa.Column("customer_id", pg.UUID(as_uuid=True), sa.ForeignKey("customers.id"), nullable=False),
    sa.Column("service", sa.Text, nullable=False),
    sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("street", sa.Text),
    sa.Column("postcode", sa.Text),
    sa.Column("city", sa.Text),
    sa.Column("state", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
)

reminders_received = sa.Table(
    "reminders_received", metadata,
    sa.Column("booking_id", pg.UUID(as_uuid=True), primary_key=True),
    sa.Column("timer_key", sa.Text, primary_key=True),
    sa.Column("due_at", sa.DateTime(timezone=True), primary_key=True),
    sa.Column("fired_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("lateness_ms", sa.Integer, nullable=False),
    sa.Column("received_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
)


async def add_booking(session: AsyncSession, tenant_id: str, booking: Booking) -> None:
    c, place = booking.customer, booking.place
    await session.execute(
        sa.insert(customers).values(id=c.id, tenant_id=tenant_id, name=c.name, phone=c.phone, email=c.email, language=c.language)
    )
    await session.execute(
        sa.insert(bookings).values(
            id=booking.id, tenant_id=tenant_id, customer_id=c.id, service=booking.service,
            starts_at=booking.starts_at, ends_at=booking.ends_at, state=booking.state,
            street=place.street if place else None, postcode=place.postcode if place else None,
            city=place.city if place else None,
        )
    )


async def booking_view(session: AsyncSession, tenant_id: str, booking_id: uuid.UUID) -> dict | None:
    """The booking with its customer, or None if the tenant has no such booking."""
    row = (
        await session.execute(
            sa.select(bookings, customers.c.name, customers.c.phone, customers.c.email)
            .join(customers, customers.c.id == bookings.c.customer_id)
            .where(bookings.c.id == booking_id, bookings.c.tenant_id == tenant_id)
        )
    ).mappings().first()
    return dict(row) if row else None


async def booking_exists(session: AsyncSession, tenant_id: str, booking_id: uuid.UUID) -> bool:
    query = sa.select(sa.literal(True)).where(bookings.c.id == booking_id, bookings.c.tenant_id == tenant_id)
    return bool((await session.execute(query)).scalar())


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
