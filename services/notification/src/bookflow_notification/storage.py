"""The notification service's tables and the queries that change them; rows come out as the
domain's `Message`. (What staff and the sandbox read is views.py.) Callers own the transaction."""
from __future__ import annotations

import dataclasses
import functools
import json
import operator
import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg
from sqlalchemy.ext.asyncio import AsyncSession

from bookflow_contracts import CustomerSnapshot, Envelope, encode, topics
from bookflow_notification import sealing
from bookflow_notification.domain import DeliveryReport, Message, Withdrawals
from bookflow_notification.tenancy import TenantView
from bookflow_notification.tenant_settings import TenantNotificationSettings
from bookflow_runtime import database, outbox
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
    sa.Column("failures", sa.Integer, nullable=False, server_default="0"),
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
    sa.Column("regarding", sa.Text),
    sa.Column("regarding_version", sa.BigInteger),
    sa.Column("valid_until", _tz),
    sa.Column("retry_until", _tz),
    sa.Column("requested_at", _tz),
    sa.Column("request_event_id", pg.UUID(as_uuid=True)),
    sa.Column("causation_id", sa.Text),
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
    sa.Column("announced_at", _tz),  # when `tenant.updated` first told of it; NULL: only its settings were saved
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

withdrawals = sa.Table(
    "withdrawals", metadata,
    sa.Column("tenant_id", sa.Text, primary_key=True),
    sa.Column("regarding", sa.Text, primary_key=True),
    sa.Column("before_version", sa.BigInteger),
    sa.Column("everything_before", _tz),
    sa.Column("last_at", _tz, nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
)

early_reports = sa.Table(
    "early_reports", metadata,
    sa.Column("provider", sa.Text, primary_key=True),
    sa.Column("provider_message_id", sa.Text, primary_key=True),
    sa.Column("status", sa.Text, primary_key=True),
    sa.Column("tenant_id", sa.Text, nullable=False),
    sa.Column("at", _tz, nullable=False),
    sa.Column("reason", sa.Text),
    sa.Column("received_at", _tz, nullable=False, server_default=sa.func.now()),
)

webhook_tokens = sa.Table(
    "webhook_tokens", metadata,
    sa.Column("provider", sa.Text, primary_key=True),
    sa.Column("token", sa.Text, primary_key=True),
    sa.Column("digest", sa.Text, nullable=False),
    sa.Column("seen_at", _tz, nullable=False),
)

consumer_progress = sa.Table(
    "consumer_progress", metadata,
    sa.Column("process_id", sa.Text, primary_key=True),
    sa.Column("caught_up_at", _tz),  # of its tenants consumer
    sa.Column("seen_at", _tz, nullable=False),
    sa.Column("withdrawals_caught_up_at", _tz),
)


# --- messages --------------------------------------------------------------------------------

MESSAGE_FIELDS = Message._fields
_MESSAGE_COLUMNS = [messages.c[name] for name in MESSAGE_FIELDS]
_CUSTOMER = MESSAGE_FIELDS.index("customer")


def _message(row: Sequence[Any]) -> Message:
    values = list(row)
    values[_CUSTOMER] = CustomerSnapshot.model_validate(values[_CUSTOMER])
    return Message._make(values)


def _select_messages() -> sa.Select:
    return sa.select(*_MESSAGE_COLUMNS)


# Requests arrive by the hundred: one statement with arrays in, instead of SQLAlchemy binding
# twenty parameters per row. JSON columns go in as text and are cast.
_NEW_MESSAGE_COLUMNS = {
    "id": "uuid", "tenant_id": "text", "idempotency_key": "text", "booking_id": "uuid", "customer_id": "uuid",
    "customer": "jsonb", "channels": "jsonb", "data": "jsonb", "purpose": "text", "language": "text",
    "correlation_id": "text", "template_key": "text", "status": "text", "reason": "text", "not_before": "timestamptz",
    "regarding": "text", "regarding_version": "bigint", "valid_until": "timestamptz", "requested_at": "timestamptz",
    "request_event_id": "uuid", "causation_id": "text",
}
_ADD_MESSAGES = sa.text(
    f"INSERT INTO messages ({', '.join(_NEW_MESSAGE_COLUMNS)}) SELECT * FROM {unnest(_NEW_MESSAGE_COLUMNS)} "
    "ON CONFLICT ON CONSTRAINT messages_tenant_idempotency_key DO NOTHING RETURNING id"
)
_NEW_MESSAGE_VALUES = operator.attrgetter(*_NEW_MESSAGE_COLUMNS)
_AS_JSON = {
    "customer": lambda m: m.customer.model_dump_json(),
    "channels": lambda m: json.dumps(m.channels),
    "data": lambda m: json.dumps(m.data),
}


async def add_messages(session: AsyncSession, new: list[Message], data: list[str] | None = None) -> set[uuid.UUID]:
    """Store new messages; the ids of those stored. A message whose tenant already has one with
    its idempotency key is not stored. `data`: the messages' data as JSON, if the caller has it."""
    if not new:
        return set()
    columns = list(zip(*map(_NEW_MESSAGE_VALUES, new), strict=True))  # one pass over the messages, then one list per column
    arrays = {
        column: [_AS_JSON[column](m) for m in new] if column in _AS_JSON else list(values)
        for column, values in zip(_NEW_MESSAGE_COLUMNS, columns, strict=True) if column != "data" or data is None
    }
    if data is not None:
        arrays["data"] = data
    return {row.id for row in await session.execute(_ADD_MESSAGES, arrays)}


async def update_message(session: AsyncSession, message_id: uuid.UUID, **values: Any) -> None:
    await session.execute(sa.update(messages).where(messages.c.id == message_id).values(**values))


async def update_messages(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
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


_CLAIMED = ("status", "channel", "recipient", "channel_index", "subject", "body", "language", "sender", "provider",
            "segments", "encoding", "price_per_segment", "currency", "payer")


async def claim(session: AsyncSession, claimed: list[Message], lease_until: datetime) -> None:
    """Store the claim of messages on their way out (`sending`, rendered, by which provider)."""
    await update_messages(session, [
        {"id": m.id, **{k: getattr(m, k) for k in _CLAIMED}, "lease_until": lease_until} for m in claimed
    ])


@dataclasses.dataclass(frozen=True)
class Sent:
    """A message a channel took, as recorded."""

    message: Message
    status: str  # sent or delivered
    provider: str
    provider_message_id: str
    at: datetime
    letter_path: str | None
    cost: Any  # Decimal | None: billed when delivered


async def record_sent(session: AsyncSession, sent: list[Sent]) -> None:
    await update_messages(session, [
        {"id": s.message.id, "status": s.status, "provider": s.provider, "provider_message_id": s.provider_message_id,
         "sent_at": s.at, "lease_until": None, "letter_path": s.letter_path, "delivered_at": s.at if s.status == "delivered" else None,
         "billed_at": s.at if s.cost is not None else None, "cost": s.cost}
        for s in sent
    ])


async def add_event(session: AsyncSession, message_id: uuid.UUID, status: str, at: datetime, detail: str | None = None) -> None:
    await session.execute(sa.insert(message_events).values(message_id=message_id, status=status, at=at, detail=detail))


async def add_events(session: AsyncSession, rows: list[dict]) -> None:
    if rows:
        await session.execute(sa.insert(message_events), rows)


async def claim_due(session: AsyncSession, now: datetime, limit: int) -> list[Message]:
    """Queued messages due by `now`, locked for this transaction; other dispatchers skip them."""
    query = (
        _select_messages().where(messages.c.status == "queued", messages.c.not_before <= now)
        .order_by(messages.c.not_before).limit(limit).with_for_update(skip_locked=True)
    )
    # A burst queues tens of thousands of messages faster than statistics follow: planned for the
    # few queued rows ANALYZE last saw, the claim read every queued row and sorted them (15–37 ms
    # a claim at 20,000 queued). Without bitmap scans the plan is the ordered walk of the partial
    # index `messages_due`, which stops after `limit` rows whatever the estimate.
    await session.execute(sa.text("SET LOCAL enable_bitmapscan = off"))
    rows = await session.execute(query)
    await session.execute(sa.text("SET LOCAL enable_bitmapscan = on"))
    return [_message(row) for row in rows]


async def expired_leases(session: AsyncSession, now: datetime, limit: int = 500) -> list[Message]:
    """Messages left `sending` by a process that stopped between calling a provider and recording."""
    query = (
        _select_messages().where(messages.c.status == "sending", messages.c.lease_until < now)
        .limit(limit).with_for_update(skip_locked=True)
    )
    return [_message(row) for row in await session.execute(query)]


async def waiting(session: AsyncSession, limit: int = 500) -> list[Message]:
    """Messages waiting for their tenant's settings, locked for this transaction."""
    query = _select_messages().where(messages.c.status == "waiting").order_by(messages.c.created_at).limit(limit)
    return [_message(row) for row in await session.execute(query.with_for_update(skip_locked=True))]


async def release_waiting(session: AsyncSession, tenant_id: str, now: datetime) -> int:
    """The tenant is known now: its waiting messages are queued again; how many."""
    result = await session.execute(
        sa.update(messages).where(messages.c.tenant_id == tenant_id, messages.c.status == "waiting")
        .values(status="queued", reason=None, not_before=now)
    )
    return result.rowcount or 0


async def message(session: AsyncSession, message_id: uuid.UUID) -> Message | None:
    row = (await session.execute(_select_messages().where(messages.c.id == message_id))).first()
    return _message(row) if row else None


async def message_by_provider_id(session: AsyncSession, provider: str, provider_message_id: str) -> Message | None:
    query = _select_messages().where(messages.c.provider == provider, messages.c.provider_message_id == provider_message_id)
    row = (await session.execute(query.with_for_update())).first()
    return _message(row) if row else None


# --- withdrawals -----------------------------------------------------------------------------


async def withdraw(session: AsyncSession, tenant_id: str, regarding: str, before_version: int | None, at: datetime,
                   reason: str, now: datetime) -> list[Message]:
    """Withdraw the messages regarding this that have not gone out: all of them, or those asked
    for a version below `before_version` (without a version: asked before `at`, when the
    withdrawal was). The withdrawn ones, as they were. A message already `sending` is not recalled."""
    condition = [messages.c.tenant_id == tenant_id, messages.c.regarding == regarding, messages.c.status.in_(("queued", "waiting"))]
    if before_version is not None:
        condition.append(sa.or_(messages.c.regarding_version < before_version,
                                sa.and_(messages.c.regarding_version.is_(None), messages.c.requested_at < at)))
    rows = await session.execute(_select_messages().where(*condition).with_for_update())
    withdrawn = [_message(row) for row in rows]
    if withdrawn:
        await session.execute(
            sa.update(messages).where(messages.c.id.in_([m.id for m in withdrawn]))
            .values(status="withdrawn", reason=reason, failed_at=now, lease_until=None)
        )
    return withdrawn


async def remember_withdrawal(session: AsyncSession, tenant_id: str, regarding: str, before_version: int | None, at: datetime,
                              reason: str) -> None:
    stmt = pg.insert(withdrawals).values(
        tenant_id=tenant_id, regarding=regarding, before_version=before_version,
        everything_before=at if before_version is None else None, last_at=at, reason=reason,
    )
    w = withdrawals.c
    await session.execute(stmt.on_conflict_do_update(index_elements=[w.tenant_id, w.regarding], set_={
        "before_version": sa.func.greatest(w.before_version, stmt.excluded.before_version),
        "everything_before": sa.func.greatest(w.everything_before, stmt.excluded.everything_before),
        "last_at": sa.func.greatest(w.last_at, stmt.excluded.last_at),
        "reason": stmt.excluded.reason,
    }))


_WITHDRAWALS_OF = sa.text(
    "SELECT w.tenant_id, w.regarding, w.before_version, w.everything_before, w.last_at, w.reason FROM withdrawals w "
    f"JOIN {unnest({'tenant_ids': 'text', 'regardings': 'text'})} AS k(tenant_id, regarding) "
    "ON w.tenant_id = k.tenant_id AND w.regarding = k.regarding"
)


async def withdrawals_of(session: AsyncSession, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], Withdrawals]:
    """What is remembered of withdrawals for these (tenant, regarding) pairs."""
    keys = list(set(keys))
    if not keys:
        return {}
    rows = await session.execute(_WITHDRAWALS_OF, {"tenant_ids": [k[0] for k in keys], "regardings": [k[1] for k in keys]})
    return {(r.tenant_id, r.regarding): Withdrawals(r.before_version, r.everything_before, r.last_at, r.reason) for r in rows}


# --- delivery reports that came before the send was recorded ------------------------------------


async def keep_early_report(session: AsyncSession, tenant_id: str, report: DeliveryReport) -> None:
    stmt = pg.insert(early_reports).values(provider=report.provider, provider_message_id=report.provider_message_id,
                                           status=report.status, tenant_id=tenant_id, at=report.at, reason=report.reason)
    await session.execute(stmt.on_conflict_do_nothing())


_TAKE_EARLY_REPORTS = sa.text(
    f"DELETE FROM early_reports e USING {unnest({'providers': 'text', 'ids': 'text'})} AS k(provider, provider_message_id) "
    "WHERE e.provider = k.provider AND e.provider_message_id = k.provider_message_id "
    "RETURNING e.tenant_id, e.provider, e.provider_message_id, e.status, e.at, e.reason"
)


async def take_early_reports(session: AsyncSession, keys: list[tuple[str, str]]) -> list[tuple[str, DeliveryReport]]:
    """The kept reports for these (provider, provider message id) pairs, removed: (tenant, report)."""
    if not keys:
        return []
    rows = await session.execute(_TAKE_EARLY_REPORTS, {"providers": [k[0] for k in keys], "ids": [k[1] for k in keys]})
    return sorted(((r.tenant_id, DeliveryReport(r.provider, r.provider_message_id, r.status, r.at, r.reason)) for r in rows),
                  key=lambda kept: kept[1].at)


async def forget_early_reports(session: AsyncSession, before: datetime) -> None:
    """Reports that matched no message for a day never will (a provider's mistake)."""
    await session.execute(sa.delete(early_reports).where(early_reports.c.received_at < before))


# --- tenants ---------------------------------------------------------------------------------


def _tenant_view(tenant_id: str, row: sa.Row | None) -> TenantView:
    """The tenant as stored (defaults for one never heard of); raises sealing.CannotUnseal when
    its secrets cannot be opened."""
    if row is None:
        return TenantView(tenant_id, tenant_id, None, None, TenantNotificationSettings())
    return TenantView(
        tenant_id, row.name or tenant_id, row.time_zone, row.language,
        TenantNotificationSettings.model_validate(sealing.unseal(row.settings)), known=row.announced_at is not None,
    )


async def tenant(session: AsyncSession, tenant_id: str) -> TenantView:
    row = (await session.execute(sa.select(tenants).where(tenants.c.tenant_id == tenant_id))).first()
    return _tenant_view(tenant_id, row)


async def tenant_for_change(session: AsyncSession, tenant_id: str) -> TenantView:
    """The tenant as stored, its row locked until the transaction ends: its settings have two
    writers (the administrator's settings API and `tenant.updated`), each of which reads them,
    changes its part and writes them all back, so each must read under the lock or the one that
    commits last loses the other's change. A tenant never stored gets an empty, unannounced row
    first, so that there is a row to lock (it goes with the transaction if that fails)."""
    await session.execute(pg.insert(tenants).values(tenant_id=tenant_id, settings=sealing.seal({}))
                          .on_conflict_do_nothing(index_elements=[tenants.c.tenant_id]))
    row = (await session.execute(sa.select(tenants).where(tenants.c.tenant_id == tenant_id).with_for_update())).first()
    return _tenant_view(tenant_id, row)


async def tenant_views(session: AsyncSession, tenant_ids: Iterable[str]) -> dict[str, TenantView | sealing.CannotUnseal]:
    """Each tenant as stored, or why its secrets cannot be opened."""
    ids = list(set(tenant_ids))
    rows = {row.tenant_id: row for row in await session.execute(sa.select(tenants).where(tenants.c.tenant_id.in_(ids)))}
    views: dict[str, TenantView | sealing.CannotUnseal] = {}
    for tenant_id in ids:
        try:
            views[tenant_id] = _tenant_view(tenant_id, rows.get(tenant_id))
        except sealing.CannotUnseal as exc:
            views[tenant_id] = exc
    return views


async def known_tenants(session: AsyncSession, tenant_ids: Iterable[str]) -> set[str]:
    """Which of these tenants `tenant.updated` has told of."""
    query = sa.select(tenants.c.tenant_id).where(tenants.c.tenant_id.in_(list(set(tenant_ids))), tenants.c.announced_at.is_not(None))
    return set((await session.execute(query)).scalars())


async def save_tenant(session: AsyncSession, tenant_id: str, *, announced_at: datetime | None = None, **values: Any) -> None:
    """Insert or update the tenant; `settings` must be given for a tenant not yet known. Its
    secrets are stored sealed (sealing.py). `announced_at`: `tenant.updated` told of it."""
    values["settings"] = sealing.seal(values.get("settings") or {})
    stmt = pg.insert(tenants).values(tenant_id=tenant_id, announced_at=announced_at, **values)
    update = {k: stmt.excluded[k] for k in values} | {"updated_at": sa.func.now()}
    if announced_at is not None:
        update["announced_at"] = sa.func.coalesce(tenants.c.announced_at, stmt.excluded.announced_at)
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


# --- how far the tenants consumers of every process have read ------------------------------------


async def note_progress(session: AsyncSession, process_id: str, caught_up_at: datetime | None,
                        withdrawals_caught_up_at: datetime | None = None) -> None:
    """This process is alive, its tenants consumer had read all it holds at `caught_up_at`, and
    its withdrawals consumer at `withdrawals_caught_up_at`."""
    values = {"caught_up_at": caught_up_at, "withdrawals_caught_up_at": withdrawals_caught_up_at, "seen_at": sa.func.now()}
    stmt = pg.insert(consumer_progress).values(process_id=process_id, **values)
    await session.execute(stmt.on_conflict_do_update(index_elements=[consumer_progress.c.process_id], set_=values))


async def others_withdrawals_caught_up_at(session: AsyncSession, process_id: str, alive: timedelta) -> tuple[bool, datetime | None]:
    """Whether the withdrawals consumers of every other process seen within `alive` have caught up
    once, and the earliest of their marks (None when there is no other process)."""
    row = (await session.execute(
        sa.select(sa.func.min(consumer_progress.c.withdrawals_caught_up_at),
                  sa.func.count().filter(consumer_progress.c.withdrawals_caught_up_at.is_(None)))
        .where(consumer_progress.c.seen_at >= sa.func.now() - alive, consumer_progress.c.process_id != process_id)
    )).one()
    return not row[1], row[0]


async def tenants_caught_up_at(session: AsyncSession, alive: timedelta) -> datetime | None:
    """The instant by which the tenants consumers of every process seen within `alive` had read
    all their partitions held (each process reads some of them): the earliest of their marks;
    None while one of them has not caught up yet."""
    row = (await session.execute(
        sa.select(sa.func.min(consumer_progress.c.caught_up_at),
                  sa.func.count().filter(consumer_progress.c.caught_up_at.is_(None)))
        .where(consumer_progress.c.seen_at >= sa.func.now() - alive)
    )).one()
    return None if row[1] else row[0]


async def forget_processes(session: AsyncSession, before: datetime) -> None:
    await session.execute(sa.delete(consumer_progress).where(consumer_progress.c.seen_at < before))


# --- templates -------------------------------------------------------------------------------


async def saved_templates(session: AsyncSession, tenant_id: str, template_key: str | None = None) -> dict[tuple[str, str, str], tuple[str, str]]:
    """The tenant's own templates: (subject, body) by (template key, channel, language)."""
    t = templates.c
    query = sa.select(t.template_key, t.channel, t.language, t.subject, t.body).where(t.tenant_id == tenant_id)
    if template_key:
        query = query.where(t.template_key == template_key)
    return {(r.template_key, r.channel, r.language): (r.subject, r.body) for r in await session.execute(query)}


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


# --- replies and webhook tokens --------------------------------------------------------------


async def add_reply(session: AsyncSession, **values: Any) -> bool:
    """Store an inbound message; False if the provider delivered it before."""
    stmt = pg.insert(replies).values(**values).on_conflict_do_nothing(constraint="replies_provider_message")
    return (await session.execute(stmt.returning(replies.c.id))).first() is not None


async def remember_token(session: AsyncSession, provider: str, token: str, digest: str, at: datetime) -> str:
    """Remember a signed callback's one-time token: `new`, `same` (this token came before with
    the same content: the provider retrying) or `other` (with other content: a replay)."""
    stmt = pg.insert(webhook_tokens).values(provider=provider, token=token, digest=digest, seen_at=at).on_conflict_do_nothing()
    if (await session.execute(stmt.returning(webhook_tokens.c.token))).first() is not None:
        return "new"
    seen = (await session.execute(
        sa.select(webhook_tokens.c.digest).where(webhook_tokens.c.provider == provider, webhook_tokens.c.token == token)
    )).scalar()
    return "same" if seen == digest else "other"


async def forget_tokens(session: AsyncSession, provider: str, before: datetime) -> None:
    await session.execute(sa.delete(webhook_tokens).where(webhook_tokens.c.provider == provider, webhook_tokens.c.seen_at < before))


# --- sandbox and dead letters ----------------------------------------------------------------


async def add_sandbox_messages(session: AsyncSession, rows: list[dict]) -> None:
    if rows:
        await session.execute(sa.insert(sandbox_messages), rows)


async def dead_letter(session: AsyncSession, envelope: Envelope, *, consumer: str, original_topic: str, reason: str, at: datetime) -> None:
    """Put a consumed message on the dead-letter topic through the outbox, in the transaction that
    records what became of it, with the headers the runtime's dead letters carry."""
    headers = {k: v.decode() for k, v in envelope.headers()} | {
        "dead-letter-reason": reason[:4000], "dead-letter-consumer": consumer, "original-topic": original_topic,
        "dead-lettered-at": at.isoformat(),
    }
    await session.execute(sa.insert(database.outbox).values(
        event_id=envelope.event_id, topic=topics.DEAD_LETTER, key=envelope.key, value=encode(envelope), headers=headers,
    ))
    await session.execute(sa.text(f"NOTIFY {outbox.CHANNEL}"))  # the relay publishes it after the commit
