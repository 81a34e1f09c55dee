"""The tables in storage.py are the tables the migrations make: one metadata, checked."""
import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.ext.asyncio import create_async_engine

from bookflow_checkin import MIGRATIONS, storage
from bookflow_runtime.database import messaging_metadata


@pytest.fixture(scope="module")
def migrated(make_database) -> str:
    return make_database("checkin_schema", MIGRATIONS)


async def test_the_migrations_make_exactly_the_tables_storage_describes(migrated):
    url = migrated
    engine = create_async_engine(url, poolclass=sa.pool.NullPool)
    combined = sa.MetaData()
    for table in [*storage.metadata.tables.values(), *messaging_metadata.tables.values()]:
        table.to_metadata(combined)

    def differences(connection):
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return [d for d in compare_metadata(context, combined) if not (isinstance(d, tuple) and d[0] == "remove_table"
                                                                       and d[1].name == "alembic_version")]

    async with engine.connect() as connection:
        found = await connection.run_sync(differences)
    await engine.dispose()
    assert found == []
