"""Alembic, the same way in every service: each service keeps its own `migrations/` folder and its
own `alembic_version` in its own database; `upgrade` runs them to head and `run_env` is the whole
body of every `env.py`."""

from __future__ import annotations

import asyncio
from pathlib import Path

import sqlalchemy as sa
from alembic import command, context
from alembic.config import Config
from alembic.operations import Operations
from sqlalchemy.ext.asyncio import create_async_engine

from bookflow_runtime.database import inbox, outbox


def upgrade(migrations_dir: Path, database_url: str, revision: str = "head") -> None:
    """Bring the database at `database_url` to `revision` (synchronous; call outside a loop)."""
    config = Config()
    config.set_main_option("script_location", str(migrations_dir))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    command.upgrade(config, revision)


def run_env() -> None:
    """The body of a service's `migrations/env.py`: run online migrations over asyncpg."""
    url = context.config.get_main_option("sqlalchemy.url")

    def migrate(connection: sa.Connection) -> None:
        context.configure(connection=connection, target_metadata=None)
        with context.begin_transaction():
            context.run_migrations()

    async def run() -> None:
        engine = create_async_engine(url, poolclass=sa.pool.NullPool)
        async with engine.connect() as conn:
            await conn.run_sync(migrate)
            await conn.commit()
        await engine.dispose()

    asyncio.run(run())


def create_messaging_tables(op: Operations) -> None:
    """Create the outbox and inbox tables; every service's first migration calls this."""
    bind = op.get_bind()
    outbox.create(bind)
    inbox.create(bind)


def drop_messaging_tables(op: Operations) -> None:
    """Drop the outbox and inbox tables."""
    bind = op.get_bind()
    inbox.drop(bind)
    outbox.drop(bind)


def drift(metadata: sa.MetaData, database_url: str) -> list[str]:
    """How a database migrated to head differs from `metadata` (tables, columns, types,
    nullability, indexes, unique and foreign-key constraints), one line per difference; empty
    when the migrations and the metadata agree. Each service's tests call it: one schema, not two."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    full = sa.MetaData()
    for table in (*metadata.tables.values(), inbox, outbox):
        if table.name not in full.tables:
            table.to_metadata(full)

    def compare(connection: sa.Connection) -> list:
        context = MigrationContext.configure(connection, opts={"compare_type": True, "compare_server_default": False})
        return compare_metadata(context, full)

    async def run() -> list:
        engine = create_async_engine(database_url, poolclass=sa.pool.NullPool)
        try:
            async with engine.connect() as conn:
                return await conn.run_sync(compare)
        finally:
            await engine.dispose()

    differences = asyncio.run(run())
    return [_describe(d) for d in differences if not _is_alembic_bookkeeping(d)]


def _is_alembic_bookkeeping(difference: object) -> bool:
    return isinstance(difference, tuple) and len(difference) > 1 and getattr(difference[1], "name", None) == "alembic_version"


def _describe(difference: object) -> str:
    if isinstance(difference, list):  # column modifications come as a list of tuples
        return "; ".join(_describe(d) for d in difference)
    if isinstance(difference, tuple):
        kind, *rest = difference
        names = [getattr(r, "name", None) or str(r) for r in rest if r is not None]
        return f"{kind}: {', '.join(str(n) for n in names)}"
    return str(difference)
