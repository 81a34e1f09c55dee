"""The tables the code reads and writes (storage.metadata) are the tables the migrations make:
every column, with its type and whether it may be empty."""
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.ext.asyncio import create_async_engine

from bookflow_booking import MIGRATIONS, storage

COLUMN_CHANGES = {"add_column", "remove_column", "modify_type", "modify_nullable", "add_table"}


def _column_changes(diff) -> list:
    flat = [d for entry in diff for d in (entry if isinstance(entry, list) else [entry])]
    return [d for d in flat if d[0] in COLUMN_CHANGES]


@pytest.fixture(scope="module")
def migrated(make_database) -> str:
    return make_database("booking_schema", MIGRATIONS)


async def test_the_storage_tables_are_the_migrated_tables(migrated):
    engine = create_async_engine(migrated)
    try:
        async with engine.connect() as conn:
            diff = await conn.run_sync(lambda sync: compare_metadata(MigrationContext.configure(sync), storage.metadata))
    finally:
        await engine.dispose()
    assert _column_changes(diff) == []
