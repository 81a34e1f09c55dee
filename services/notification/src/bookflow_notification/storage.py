"""The notification service's tables and queries."""
from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg
from sqlalchemy.ext.asyncio import AsyncSession

metadata = sa.MetaData()

messages = sa.Table(
    "messages", metadata,
    sa.Column("id", pg.UUID(as_uuid=True), primary_key=True),
    sa.Column("tenant_id", sa.Text, nullable=False),
    sa.Column("idempotency_key", sa.Text, nullable=False),
    sa.Column("booking_id", pg.UUID(as_uuid=True)),
    sa.Column("customer_id", pg.UUID(as_uuid=True), nullable=False),
    sa.Column("channel", sa.Text),
    sa.Column("recipient", sa.Text),
    sa.Column("template_key", sa.Text, nullable=False),
    sa.Column("body", sa.Text),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("reason", sa.Text),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.Column("sent_at", sa.DateTime(timezone=True)),
    sa.Column("delivered_at", sa.DateTime(timezone=True)),
)

sandbox_messages = sa.Table(
    "sandbox_messages", metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("message_id", pg.UUID(as_uuid=True), nullable=False),
    sa.Column("tenant_id", sa.Text, nullable=False),
    sa.Column("channel", sa.Text, nullable=False),
    sa.Column("recipient", sa.Text, nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("received_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
)


async def add_message(session: AsyncSession, **values) -> bool:
    """Store a message; False if the tenant already has one with this idempotency key."""
    stmt = pg.insert(messages).values(**values).on_conflict_do_nothing(constraint="messages_tenant_idempotency_key")
    return (await session.execute(stmt.returning(messages.c.id))).first() is not None


async def mark_delivered(session: AsyncSession, message_id: uuid.UUID, at: datetime) -> None:
    await session.execute(
        sa.update(messages).where(messages.c.id == message_id).values(status="delivered", sent_at=at, delivered_at=at)
    )


async def add_sandbox_message(session: AsyncSession, **values) -> None:
    await session.execute(sa.insert(sandbox_messages).values(**values))


async def sandbox_inbox(session: AsyncSession, tenant_id: str | None, recipient: str | None, limit: int) -> list[dict]:
    """What the sandbox channel received, newest first."""
    query = sa.select(sandbox_messages).order_by(sandbox_messages.c.id.desc()).limit(limit)
    if tenant_id:
        query = query.where(sandbox_messages.c.tenant_id == tenant_id)
    if recipient:
        query = query.where(sandbox_messages.c.recipient == recipient)
    return [dict(r._mapping) for r in await session.execute(query)]


async def communication_log(session: AsyncSession, tenant_id: str, booking_id: uuid.UUID | None, customer_id: uuid.UUID | None) -> list[dict]:
    """Every message of the tenant about a booking or to a customer, oldest first."""
    query = sa.select(messages).where(messages.c.tenant_id == tenant_id).order_by(messages.c.created_at)
    if booking_id:
        query = query.where(messages.c.booking_id == booking_id)
    if customer_id:
        query = query.where(messages.c.customer_id == customer_id)
    return [dict(r._mapping) for r in await session.execute(query)]
