"""The timers table and every query on it."""
from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import sqlalchemy as sa
from pydantic import BaseModel, Field
from sqlalchemy.dialects import postgresql as pg
from sqlalchemy.ext.asyncio import AsyncSession

from bookflow_scheduler.domain import DueTimer

metadata = sa.MetaData()

timers = sa.Table(
    "timers",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("tenant_id", sa.Text, nullable=False),
    sa.Column("timer_key", sa.Text, nullable=False),
    sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("payload", pg.JSONB, nullable=False),
    sa.Column("state", sa.Text, nullable=False),
    sa.Column("generation", sa.Integer, nullable=False),
    sa.Column("fired_at", sa.DateTime(timezone=True)),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("correlation_id", sa.Text),
    sa.Column("set_by_event_id", sa.Text),
)


async def set_timer(
    session: AsyncSession, tenant_id: str, timer_key: str, due_at: datetime, payload: dict[str, Any],
    *, correlation_id: str | None = None, set_by_event_id: str | None = None,
) -> None:
    """Insert a pending timer, or re-arm the existing one with a new instant and generation."""
    stmt = pg.insert(timers).values(
        tenant_id=tenant_id, timer_key=timer_key, due_at=due_at, payload=payload,
        state="pending", generation=1, updated_at=sa.func.now(),
        correlation_id=correlation_id, set_by_event_id=set_by_event_id,
    )
    stmt = stmt.on_conflict_do_update(
        constraint="timers_tenant_key",
        set_={
            "due_at": stmt.excluded.due_at,
            "payload": stmt.excluded.payload,
            "state": "pending",
            "generation": timers.c.generation + 1,
            "fired_at": None,
            "updated_at": sa.func.now(),
            "correlation_id": stmt.excluded.correlation_id,
            "set_by_event_id": stmt.excluded.set_by_event_id,
        },
    )
    await session.execute(stmt)


async def cancel(session: AsyncSession, tenant_id: str, *, key: str | None = None, prefix: str | None = None) -> int:
    """Cancel pending timers by exact key or by key prefix; returns how many."""
    where = [timers.c.tenant_id == tenant_id, timers.c.state == "pending"]
    if key is not None:
        where.append(timers.c.timer_key == key)
    if prefix is not None:
        where.append(timers.c.timer_key.startswith(prefix, autoescape=True))
    result = await session.execute(
        sa.update(timers).where(*where).values(state="cancelled", updated_at=sa.func.now())
    )
    return result.rowcount


# One statement claims the due timers (oldest first, skipping rows another replica has locked,
# so no timer is claimed twice), marks them fired, and reads the next pending instant: at 1,000
# timers a second a firing round is mostly round trips, and this was three of them. The next
# instant is read in the statement's snapshot, where the timers it claims are still pending:
# they are left out by id. Timers another replica holds locked stay in it (due now: look again soon).
# `= ANY(ARRAY(…))`, not a join with `due`: PostgreSQL's generic plan for a join hashed the whole
# table (a sequential scan of every timer, each round); this way it looks the ids up in the key.
_CLAIM_DUE = sa.text("""
    WITH due AS (
        SELECT id FROM timers
        WHERE state = 'pending' AND due_at <= :now
        ORDER BY due_at LIMIT :limit
        FOR UPDATE SKIP LOCKED
    ), fired AS (
        UPDATE timers SET state = 'fired', fired_at = :now, updated_at = now()
        WHERE id = ANY(ARRAY(SELECT id FROM due))
        RETURNING id, tenant_id, timer_key, due_at, payload, generation, correlation_id, set_by_event_id
    )
    SELECT next.due_at AS next_due, fired.*
    FROM (SELECT min(due_at) AS due_at FROM timers
          WHERE state = 'pending' AND id NOT IN (SELECT id FROM due)) AS next
    LEFT JOIN fired ON true
""").bindparams(sa.bindparam("now", type_=sa.DateTime(timezone=True)), sa.bindparam("limit", type_=sa.Integer)).columns(
    next_due=sa.DateTime(timezone=True), payload=pg.JSONB, due_at=sa.DateTime(timezone=True),
)


async def claim_due(session: AsyncSession, now: datetime, limit: int) -> tuple[list[DueTimer], datetime | None]:
    """Claim up to `limit` pending timers due by `now`, oldest first, and mark them fired (in the
    caller's transaction: a rollback leaves them pending); returns them and the instant of the
    earliest timer still pending."""
    rows = (await session.execute(_CLAIM_DUE, {"now": now, "limit": limit})).all()
    next_due = rows[0].next_due if rows else None
    due = [
        DueTimer(r.id, r.tenant_id, r.timer_key, r.due_at, r.payload, r.generation, r.correlation_id, r.set_by_event_id)
        for r in rows if r.id is not None
    ]
    due.sort(key=lambda t: (t.due_at, t.id))
    return due, next_due


async def count_pending(session: AsyncSession) -> int:
    return (await session.execute(sa.select(sa.func.count()).select_from(timers).where(timers.c.state == "pending"))).scalar()


TimerState = Literal["pending", "fired", "cancelled"]


class Timer(BaseModel):
    """A timer as operators see it."""

    tenant_id: str
    timer_key: str = Field(description="The requester's key, such as `booking:<id>:release`.")
    due_at: datetime
    state: TimerState
    generation: int = Field(description="1, plus one for each reschedule.")
    fired_at: datetime | None
    updated_at: datetime
    payload: dict[str, Any] = Field(description="What the requester asked to get back at the instant.")
    correlation_id: str | None


class TimerCount(BaseModel):
    """How many timers one tenant has in one state."""

    tenant_id: str
    state: TimerState
    count: int


async def find(session: AsyncSession, tenant_id: str | None, *, key: str | None, prefix: str | None, limit: int) -> list[Timer]:
    """Timers by exact key or key prefix, newest instant first."""
    query = sa.select(*(timers.c[name] for name in Timer.model_fields)).order_by(timers.c.due_at.desc()).limit(limit)
    if tenant_id:
        query = query.where(timers.c.tenant_id == tenant_id)
    if key:
        query = query.where(timers.c.timer_key == key)
    if prefix:
        query = query.where(timers.c.timer_key.startswith(prefix, autoescape=True))
    return [Timer.model_validate(row._mapping) for row in await session.execute(query)]


async def count_by_state(session: AsyncSession) -> list[TimerCount]:
    """How many timers each tenant has in each state."""
    rows = await session.execute(
        sa.select(timers.c.tenant_id, timers.c.state, sa.func.count()).group_by(timers.c.tenant_id, timers.c.state)
    )
    return [TimerCount(tenant_id=t, state=s, count=n) for t, s, n in rows]
