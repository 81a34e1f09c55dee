"""The notification service's tables and queries. Callers own the transaction."""
from __future__ import annotations

import functools
import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg
from sqlalchemy.ext.asyncio import AsyncSession

from bookflow_notification import sealing
from bookflow_runtime.database import unnest

metadata = sa.MetaData()
_tz = sa.DateTime(timezone=True)

messages = sa.Table(
    "messages", metadata,
    sa.Column("id", pg.UUID(as_uuid=True), primary_key=True),
    sa.Column("tenant_id", sa.Text, nullable=False),
    sa.Column("idempotency_key", sa.Text, nullable=False),
    sa.Column("booking_id", pg.UUID(as_uuid=True)),
    sa.Column("customer_id", pg.UUID(as_uuid=True), nullable=False),
    sa.Column("customer", pg.JSONB),
    sa.Column("channels", pg.JSONB),
    sa.Column("channel_index", sa.Integer, nullable=False, server_default="0"),
    sa.Column("data", pg.JSONB),
    sa.Column("purpose", sa.Text, nullable=False, server_default="service"),
    sa.Column("language", sa.Text),
    sa.Column("correlation_id", sa.Text),
    sa.Column("channel", sa.Text),
    sa.Column("recipient", sa.Text),
    sa.Column("sender", sa.Text),
    sa.Column("template_key", sa.Text, nullable=False),
    sa.Column("subject", sa.Text),
    sa.Column("body", sa.Text),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("reason", sa.Text),
    sa.Column("not_before", _tz, nullable=False, server_default=sa.func.now()),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("provider_index", sa.Integer, nullable=False, server_default="0"),
    sa.Column("provider", sa.Text),
    sa.Column("provider_message_id", sa.Text),
    sa.Column("lease_until", _tz),
    sa.Column("segments", sa.Integer),
    sa.Column("encoding", sa.Text),
    sa.Column("price_per_segment", sa.Numeric(12, 4)),
    sa.Column("currency", sa.Text),
    sa.Column("payer", sa.Text),
    sa.Column("cost", sa.Numeric(12, 4)),
    sa.Column("billed_at", _tz),
    sa.Column("letter_path", sa.Text),
    sa.Column("created_at", _tz, nullable=False, server_default=sa.func.now()),
    sa.Column("sent_at", _tz),
    sa.Column("delivered_at", _tz),
    sa.Column("failed_at", _tz),
)

message_events = sa.Table(
    "message_events", metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("message_id", pg.UUID(as_uuid=True), nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("at", _tz, nullable=False),
    sa.Column("detail", sa.Text),
)

tenants = sa.Table(
    "tenants", metadata,
    sa.Column("tenant_id", sa.Text, primary_key=True),
    sa.Column("name", sa.Text),
    sa.Column("time_zone", sa.Text),
    sa.Column("language", sa.Text),
    sa.Column("settings", pg.JSONB, nullable=False),
    sa.Column("updated_at", _tz, nullable=False, server_default=sa.func.now()),
)

receiving_numbers = sa.Table(
    "receiving_numbers", metadata,
    sa.Column("number", sa.Text, primary_key=True),
    sa.Column("tenant_id", sa.Text, nullable=False),
)

templates = sa.Table(
    "templates", metadata,
    sa.Column("tenant_id", sa.Text, primary_key=True),
    sa.Column("template_key", sa.Text, primary_key=True),
    sa.Column("channel", sa.Text, primary_key=True),
    sa.Column("language", sa.Text, primary_key=True),
    sa.Column("subject", sa.Text, nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("updated_by", sa.Text),
    sa.Column("updated_at", _tz, nullable=False, server_default=sa.func.now()),
)

opt_outs = sa.Table(
    "opt_outs", metadata,
    sa.Column("tenant_id", sa.Text, primary_key=True),
    sa.Column("phone", sa.Text, primary_key=True),
    sa.Column("opted_out_at", _tz, nullable=False),
    sa.Column("text", sa.Text, nullable=False),
)

consents = sa.Table(
    "consents", metadata,
    sa.Column("tenant_id", sa.Text, primary_key=True),
    sa.Column("customer_id", pg.UUID(as_uuid=True), primary_key=True),
    sa.Column("marketing", sa.Boolean, nullable=False),
    sa.Column("updated_at", _tz, nullable=False, server_default=sa.func.now()),
)

replies = sa.Table(
    "replies", metadata,
    sa.Column("id", pg.UUID(as_uuid=True), primary_key=True),
    sa.Column("tenant_id", sa.Text, nullable=False),
    sa.Column("channel", sa.Text, nullable=False, server_default="sms"),
    sa.Column("provider", sa.Text, nullable=False),
    sa.Column("provider_message_id", sa.Text, nullable=False),
    sa.Column("sender", sa.Text, nullable=False),
    sa.Column("recipient", sa.Text, nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("received_at", _tz, nullable=False),
    sa.Column("answers_message_id", pg.UUID(as_uuid=True)),
)

sandbox_messages = sa.Table(
    "sandbox_messages", metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("message_id", pg.UUID(as_uuid=True), nullable=False),
    sa.Column("tenant_id", sa.Text, nullable=False),
    sa.Column("channel", sa.Text, nullable=False),
    sa.Column("recipient", sa.Text, nullable=False),
    sa.Column("subject", sa.Text),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("received_at", _tz, nullable=False, server_default=sa.func.now()),
)


# --- messages --------------------------------------------------------------------------------


# Requests arrive by the hundred: one statement with arrays in, instead of SQLAlchemy binding
# fourteen parameters per row. JSON columns come as text and are cast.
_NEW_MESSAGE_COLUMNS = {
    "id": "uuid", "tenant_id": "text", "idempotency_key": "text", "booking_id": "uuid", "customer_id": "uuid",
    "customer": "jsonb", "channels": "jsonb", "data": "jsonb", "purpose": "text", "language": "text",
    "correlation_id": "text", "template_key": "text", "status": "text", "not_before": "timestamptz",
}
_ADD_MESSAGES = sa.text(
    f"INSERT INTO messages ({', '.join(_NEW_MESSAGE_COLUMNS)}) SELECT * FROM {unnest(_NEW_MESSAGE_COLUMNS)} "
    "ON CONFLICT ON CONSTRAINT messages_tenant_idempotency_key DO NOTHING RETURNING tenant_id, idempotency_key"
)


async def add_messages(session: AsyncSession, rows: list[dict[str, Any]]) -> set[tuple[str, str]]:
    """Store new messages (`_NEW_MESSAGE_COLUMNS`, JSON columns as JSON text); the (tenant,
    idempotency key) of those stored. A message whose tenant already has one with its
    idempotency key is not stored."""
    if not rows:
        return set()
    arrays = {column: [row[column] for row in rows] for column in _NEW_MESSAGE_COLUMNS}
    return {(r.tenant_id, r.idempotency_key) for r in await session.execute(_ADD_MESSAGES, arrays)}


async def update_message(session: AsyncSession, message_id: uuid.UUID, **values: Any) -> None:
    await session.execute(sa.update(messages).where(messages.c.id == message_id).values(**values))


async def update_messages(session: AsyncSession, rows: list[dict]) -> None:
    """Update many messages, each with its own values, in one statement: every row has `id` and
    the same other keys. (The values go in as one array per column and are joined by id: a few
    hundred single-row UPDATEs would cost the database a statement each.)"""
    if rows:
        keys = tuple(k for k in rows[0] if k != "id")
        arrays = {f"v_{k}": [row[k] for row in rows] for k in ("id", *keys)}
        await session.execute(_update_many(keys), arrays)


@functools.lru_cache(maxsize=64)
def _update_many(keys: tuple[str, ...]) -> sa.TextClause:
    columns = ("id", *keys)
    arrays = unnest({f"v_{c}": messages.c[c].type.compile(dialect=pg.dialect()) for c in columns})
    assignments = ", ".join(f"{c} = v.{c}" for c in keys)
    return sa.text(f"UPDATE messages SET {assignments} FROM {arrays} AS v({', '.join(columns)}) WHERE messages.id = v.id")


async def add_event(session: AsyncSession, message_id: uuid.UUID, status: str, at: datetime, detail: str | None = None) -> None:
    await session.execute(sa.insert(message_events).values(message_id=message_id, status=status, at=at, detail=detail))


async def add_events(session: AsyncSession, rows: list[dict]) -> None:
    if rows:
        await session.execute(sa.insert(message_events), rows)


async def claim_due(session: AsyncSession, now: datetime, limit: int) -> list[sa.Row]:
    """Queued messages due by `now`, locked for this transaction; other dispatchers skip them."""
    query = (
        sa.select(messages).where(messages.c.status == "queued", messages.c.not_before <= now)
        .order_by(messages.c.not_before).limit(limit).with_for_update(skip_locked=True)
    )
    return list(await session.execute(query))


async def expired_leases(session: AsyncSession, now: datetime, limit: int = 500) -> list[sa.Row]:
    """Messages left `sending` by a process that stopped between calling a provider and recording."""
    query = (
        sa.select(messages).where(messages.c.status == "sending", messages.c.lease_until < now)
        .limit(limit).with_for_update(skip_locked=True)
    )
    return list(await session.execute(query))


async def next_due(session: AsyncSession) -> datetime | None:
    return (await session.execute(sa.select(sa.func.min(messages.c.not_before)).where(messages.c.status == "queued"))).scalar()


async def message(session: AsyncSession, message_id: uuid.UUID, *, lock: bool = False) -> sa.Row | None:
    query = sa.select(messages).where(messages.c.id == message_id)
    return (await session.execute(query.with_for_update() if lock else query)).first()


async def message_by_provider_id(session: AsyncSession, provider: str, provider_message_id: str) -> sa.Row | None:
    query = sa.select(messages).where(messages.c.provider == provider, messages.c.provider_message_id == provider_message_id)
    return (await session.execute(query.with_for_update())).first()


# --- tenants ---------------------------------------------------------------------------------


async def tenant(session: AsyncSession, tenant_id: str) -> sa.Row | None:
    return (await session.execute(sa.select(tenants).where(tenants.c.tenant_id == tenant_id))).first()


async def tenants_by_id(session: AsyncSession, tenant_ids: Iterable[str]) -> dict[str, sa.Row]:
    rows = await session.execute(sa.select(tenants).where(tenants.c.tenant_id.in_(list(set(tenant_ids)))))
    return {row.tenant_id: row for row in rows}


async def save_tenant(session: AsyncSession, tenant_id: str, **values: Any) -> None:
    """Insert or update the tenant; `settings` must be given for a tenant not yet known. Its
    secrets are stored sealed (sealing.py)."""
    values["settings"] = sealing.seal(values.get("settings") or {})
    stmt = pg.insert(tenants).values(tenant_id=tenant_id, **values)
    update = {k: stmt.excluded[k] for k in values} | {"updated_at": sa.func.now()}
    await session.execute(stmt.on_conflict_do_update(index_elements=[tenants.c.tenant_id], set_=update))


async def set_receiving_numbers(session: AsyncSession, tenant_id: str, numbers: set[str]) -> str | None:
    """Make `numbers` the tenant's receiving numbers; the first one another tenant holds, if any."""
    taken = (await session.execute(
        sa.select(receiving_numbers.c.number).where(receiving_numbers.c.number.in_(numbers), receiving_numbers.c.tenant_id != tenant_id)
    )).scalar()
    if taken:
        return taken
    await session.execute(sa.delete(receiving_numbers).where(receiving_numbers.c.tenant_id == tenant_id))
    if numbers:
        await session.execute(sa.insert(receiving_numbers), [{"number": n, "tenant_id": tenant_id} for n in numbers])
    return None


async def tenant_of_number(session: AsyncSession, number: str) -> str | None:
    return (await session.execute(sa.select(receiving_numbers.c.tenant_id).where(receiving_numbers.c.number == number))).scalar()


# --- templates -------------------------------------------------------------------------------


async def saved_templates(session: AsyncSession, tenant_id: str, template_key: str | None = None) -> list[sa.Row]:
    query = sa.select(templates).where(templates.c.tenant_id == tenant_id)
    if template_key:
        query = query.where(templates.c.template_key == template_key)
    return list(await session.execute(query))


async def save_template(session: AsyncSession, **values: Any) -> None:
    stmt = pg.insert(templates).values(**values)
    await session.execute(stmt.on_conflict_do_update(
        index_elements=[templates.c.tenant_id, templates.c.template_key, templates.c.channel, templates.c.language],
        set_={"subject": stmt.excluded.subject, "body": stmt.excluded.body, "updated_by": stmt.excluded.updated_by, "updated_at": sa.func.now()},
    ))


# --- opt-out and consent ---------------------------------------------------------------------


async def opted_out(session: AsyncSession, pairs: Iterable[tuple[str, str]]) -> set[tuple[str, str]]:
    """Which (tenant, phone) pairs answered STOP."""
    pairs = list(set(pairs))
    if not pairs:
        return set()
    rows = await session.execute(
        sa.select(opt_outs.c.tenant_id, opt_outs.c.phone).where(sa.tuple_(opt_outs.c.tenant_id, opt_outs.c.phone).in_(pairs))
    )
    return {(r.tenant_id, r.phone) for r in rows}


async def add_opt_out(session: AsyncSession, tenant_id: str, phone: str, at: datetime, text: str) -> None:
    stmt = pg.insert(opt_outs).values(tenant_id=tenant_id, phone=phone, opted_out_at=at, text=text)
    await session.execute(stmt.on_conflict_do_nothing())


async def remove_opt_out(session: AsyncSession, tenant_id: str, phone: str) -> None:
    await session.execute(sa.delete(opt_outs).where(opt_outs.c.tenant_id == tenant_id, opt_outs.c.phone == phone))


async def consents_of(session: AsyncSession, pairs: Iterable[tuple[str, uuid.UUID]]) -> dict[tuple[str, uuid.UUID], bool]:
    pairs = list(set(pairs))
    if not pairs:
        return {}
    rows = await session.execute(
        sa.select(consents).where(sa.tuple_(consents.c.tenant_id, consents.c.customer_id).in_(pairs))
    )
    return {(r.tenant_id, r.customer_id): r.marketing for r in rows}


async def set_consent(session: AsyncSession, tenant_id: str, customer_id: uuid.UUID, marketing: bool) -> None:
    stmt = pg.insert(consents).values(tenant_id=tenant_id, customer_id=customer_id, marketing=marketing)
    await session.execute(stmt.on_conflict_do_update(
        index_elements=[consents.c.tenant_id, consents.c.customer_id], set_={"marketing": marketing, "updated_at": sa.func.now()}
    ))


# --- replies ---------------------------------------------------------------------------------


async def add_reply(session: AsyncSession, **values: Any) -> bool:
    """Store an inbound message; False if the provider delivered it before."""
    stmt = pg.insert(replies).values(**values).on_conflict_do_nothing(constraint="replies_provider_message")
    return (await session.execute(stmt.returning(replies.c.id))).first() is not None


# --- sandbox ---------------------------------------------------------------------------------


async def add_sandbox_messages(session: AsyncSession, rows: list[dict]) -> None:
    if rows:
        await session.execute(sa.insert(sandbox_messages), rows)


async def sandbox_inbox(session: AsyncSession, tenant_id: str | None, recipient: str | None, limit: int) -> list[dict]:
    """What the sandbox channel received, newest first."""
    query = sa.select(sandbox_messages).order_by(sandbox_messages.c.id.desc()).limit(limit)
    if tenant_id:
        query = query.where(sandbox_messages.c.tenant_id == tenant_id)
    if recipient:
        query = query.where(sandbox_messages.c.recipient == recipient)
    return [dict(r._mapping) for r in await session.execute(query)]


async def recent_messages(session: AsyncSession, tenant_id: str | None, limit: int) -> list[sa.Row]:
    """Every channel's messages for the sandbox page, newest first."""
    query = sa.select(messages).order_by(messages.c.created_at.desc()).limit(limit)
    if tenant_id:
        query = query.where(messages.c.tenant_id == tenant_id)
    return list(await session.execute(query))


async def recent_replies(session: AsyncSession, tenant_id: str | None, limit: int) -> list[sa.Row]:
    query = sa.select(replies).order_by(replies.c.received_at.desc()).limit(limit)
    if tenant_id:
        query = query.where(replies.c.tenant_id == tenant_id)
    return list(await session.execute(query))


# --- the communication log and usage ---------------------------------------------------------

_LOG_COLUMNS = (
    "id", "booking_id", "customer_id", "channel", "recipient", "template_key", "subject", "body", "status", "reason",
    "provider", "segments", "cost", "currency", "payer", "created_at", "sent_at", "delivered_at", "failed_at", "billed_at",
)


async def communication_log(session: AsyncSession, tenant_id: str, booking_id: uuid.UUID | None, customer_id: uuid.UUID | None) -> list[dict]:
    """Every message of the tenant about a booking or to a customer, oldest first, each with its
    status history."""
    query = sa.select(*(messages.c[c] for c in _LOG_COLUMNS)).where(messages.c.tenant_id == tenant_id).order_by(messages.c.created_at)
    if booking_id:
        query = query.where(messages.c.booking_id == booking_id)
    if customer_id:
        query = query.where(messages.c.customer_id == customer_id)
    log = [dict(r._mapping) for r in await session.execute(query)]
    if log:
        events = await session.execute(
            sa.select(message_events).where(message_events.c.message_id.in_([m["id"] for m in log])).order_by(message_events.c.id)
        )
        history: dict[uuid.UUID, list[dict]] = {}
        for e in events:
            history.setdefault(e.message_id, []).append({"status": e.status, "at": e.at, "detail": e.detail})
        for m in log:
            m["history"] = history.get(m["id"], [])
    return log


async def usage(session: AsyncSession, tenant_id: str, zone: str, month: str | None) -> list[dict]:
    """Delivered SMS per payer and month (in the tenant's zone): count, segments, amount."""
    month_col = sa.func.to_char(sa.func.timezone(zone, messages.c.billed_at), "YYYY-MM").label("month")
    query = (
        sa.select(messages.c.payer, month_col, messages.c.currency,
                  sa.func.count().label("messages"), sa.func.sum(messages.c.segments).label("segments"),
                  sa.func.sum(messages.c.cost).label("amount"))
        .where(messages.c.tenant_id == tenant_id, messages.c.billed_at.is_not(None))
        .group_by(messages.c.payer, month_col, messages.c.currency).order_by(month_col, messages.c.payer)
    )
    rows = [dict(r._mapping) for r in await session.execute(query)]
    return [r for r in rows if month is None or r["month"] == month]
