"""A pooled connection PostgreSQL ended (a restart, an administrator, a proxy's idle timeout) is
found out by the ping as it is taken from the pool and replaced before anyone uses it."""
from __future__ import annotations

import asyncio

import asyncpg
import sqlalchemy as sa

from bookflow_runtime.database import Database, create_engine


async def _backend_pid(db: Database) -> int:
    async with db.transaction() as session:
        return (await session.execute(sa.text("SELECT pg_backend_pid()"))).scalar_one()


async def test_a_connection_postgres_ended_moments_after_use_is_replaced_before_anyone_uses_it(make_database) -> None:
    url = await asyncio.to_thread(make_database, "pool")
    engine = create_engine(url, pool_size=1)
    try:
        db = Database(engine)
        first = await _backend_pid(db)
        admin = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
        try:
            assert await admin.fetchval("SELECT pg_terminate_backend($1)", first)
        finally:
            await admin.close()
        assert await _backend_pid(db) != first  # no error: the dead connection never reached the transaction
    finally:
        await engine.dispose()
