"""One schema, not two: the tables the migrations create are exactly those in storage.tables."""
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.ext.asyncio import create_async_engine

from bookflow_recall.storage.tables import metadata
from bookflow_runtime.database import messaging_metadata


def _include(obj, name, type_, reflected, compare_to) -> bool:
    return not (type_ == "table" and name == "alembic_version")


async def differences(database_url: str, target: sa.MetaData) -> list:
    engine = create_async_engine(database_url, poolclass=sa.pool.NullPool)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(lambda sync: compare_metadata(
                MigrationContext.configure(sync, opts={"compare_type": True, "compare_server_default": False,
                                                       "include_object": _include}), target))
    finally:
        await engine.dispose()


def everything(*extra: sa.Table) -> sa.MetaData:
    combined = sa.MetaData()
    for table in [*metadata.tables.values(), *messaging_metadata.tables.values(), *extra]:
        table.to_metadata(combined)
    return combined


async def test_the_migrations_create_exactly_the_tables_of_the_metadata(database_url):
    assert await differences(database_url, everything()) == []


async def test_a_column_only_in_the_metadata_is_found(database_url):
    combined = everything()
    combined.tables["customers"].append_column(sa.Column("forgotten", sa.Text))  # a column no migration adds
    found = await differences(database_url, combined)
    assert [(d[0], d[3].name) for d in found] == [("add_column", "forgotten")]
