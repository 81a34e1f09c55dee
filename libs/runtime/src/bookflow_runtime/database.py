"""The service's database: engine, transactions, and the two messaging tables every service has.

`outbox` holds messages written in the same transaction as the state change they announce;
`inbox` holds (consumer, event id) for every message a consumer has handled.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Mapping

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg
from sqlalchemy.engine.interfaces import AdaptedConnection
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

messaging_metadata = sa.MetaData()

outbox = sa.Table(
    "outbox",
    messaging_metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("event_id", pg.UUID(as_uuid=True), nullable=False),
    sa.Column("topic", sa.Text, nullable=False),
    sa.Column("key", sa.Text, nullable=False),
    sa.Column("value", sa.LargeBinary, nullable=False),
    sa.Column("headers", pg.JSONB, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.Column("published_at", sa.DateTime(timezone=True)),
    sa.Index("outbox_unpublished", "id", postgresql_where=sa.text("published_at IS NULL")),
)

inbox = sa.Table(
    "inbox",
    messaging_metadata,
    sa.Column("consumer", sa.Text, primary_key=True),
    sa.Column("event_id", pg.UUID(as_uuid=True), primary_key=True),
    sa.Column("received_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
)


def unnest(arrays: Mapping[str, str]) -> str:
    """`unnest(CAST(:name AS type[]), …)` for bind parameters named with their PostgreSQL types:
    a batch of rows bound as one array per column, so that it costs one statement, not one per
    row. `jsonb` arrays are bound as JSON text."""
    return "unnest(" + ", ".join(
        f"CAST(CAST(:{name} AS text[]) AS jsonb[])" if kind.lower() == "jsonb" else f"CAST(:{name} AS {kind}[])"
        for name, kind in arrays.items()
    ) + ")"


def create_engine(url: str, *, pool_size: int = 10) -> AsyncEngine:
    """An async engine for the service's own database. Statement parameters (names, phone
    numbers) are kept out of error messages and logs.

    Every connection is pinged as it is taken from the pool, and replaced if it does not answer
    (a restart of PostgreSQL ends them all): one simple-protocol `SELECT 1`, one round trip.
    SQLAlchemy's `pool_pre_ping` made it three with asyncpg (BEGIN, `;`, ROLLBACK), paid by every
    request and every consumed batch on top of its own work."""
    engine = create_async_engine(url, pool_size=pool_size, max_overflow=pool_size, hide_parameters=True)
    sa.event.listen(engine.sync_engine.pool, "checkout", _ping)
    return engine


def _ping(dbapi_connection: AdaptedConnection, record: object, proxy: object) -> None:
    try:
        dbapi_connection.run_async(lambda driver: driver.execute("SELECT 1"))
    except Exception as exc:  # noqa: BLE001 (whatever the failure, the pool replaces the connection and tries again)
        raise sa.exc.DisconnectionError(f"a pooled connection did not answer: {type(exc).__name__}") from exc


def after_commit(session: AsyncSession, callback: Callable[[], object]) -> None:
    """Call `callback` once the session's transaction has committed (never after a rollback):
    how a handler says "wake the relay" or "wake the dispatcher" without holding either."""
    sa.event.listen(session.sync_session, "after_commit", lambda _: callback(), once=True)


class Database:
    """Engine and transactions. The boundary (a request, a consumed message) owns the commit."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.sessions = async_sessionmaker(engine, expire_on_commit=False)

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """One unit of work: commits at the end, rolls back on error."""
        async with self.sessions() as session:
            async with session.begin():
                yield session

    async def ping(self) -> None:
        """Raise if the database does not answer."""
        async with self.engine.connect() as conn:
            await conn.execute(sa.text("SELECT 1"))
