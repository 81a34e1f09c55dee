"""The recall service's tables and queries."""
from __future__ import annotations

import uuid

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg
from sqlalchemy.ext.asyncio import AsyncSession

metadata = sa.MetaData()

booking_history = sa.Table(
    "booking_history", metadata,
    sa.Column("booking_id", pg.UUID(as_uuid=True), primary_key=True),
    sa.Column("tenant_id", sa.Text, nullable=False),
    sa.Column("customer_id", pg.UUID(as_uuid=True), nullable=False),
    sa.Column("service", sa.Text, nullable=False),
    sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("state", sa.Text, nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)


async def upsert_booking(session: AsyncSession, **values) -> None:
    stmt = pg.insert(booking_history).values(**values, updated_at=sa.func.now())
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=[booking_history.c.booking_id],
            set_={"state": stmt.excluded.state, "starts_at": stmt.excluded.starts_at, "updated_at": sa.func.now()},
        )
    )


async def history_of(session: AsyncSession, tenant_id: str, customer_id: uuid.UUID) -> list[dict]:
    rows = await session.execute(
        sa.select(booking_history)
        .where(booking_history.c.tenant_id == tenant_id, booking_history.c.customer_id == customer_id)
        .order_by(booking_history.c.starts_at)
    )
    return [dict(r._mapping) for r in rows]
