"""The check-in service's tables and queries."""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg
from sqlalchemy.ext.asyncio import AsyncSession

metadata = sa.MetaData()

appointments = sa.Table(
    "appointments", metadata,
    sa.Column("booking_id", pg.UUID(as_uuid=True), primary_key=True),
    sa.Column("tenant_id", sa.Text, nullable=False),
    sa.Column("customer_id", pg.UUID(as_uuid=True), nullable=False),
    sa.Column("customer_name", sa.Text),
    sa.Column("service", sa.Text, nullable=False),
    sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("state", sa.Text, nullable=False),
)


async def add_appointment(session: AsyncSession, **values) -> None:
    await session.execute(pg.insert(appointments).values(**values).on_conflict_do_nothing())


async def appointments_of(session: AsyncSession, tenant_id: str) -> list[dict]:
    rows = await session.execute(
        sa.select(appointments).where(appointments.c.tenant_id == tenant_id).order_by(appointments.c.starts_at)
    )
    return [dict(r._mapping) for r in rows]
