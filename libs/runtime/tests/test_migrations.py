"""One schema, not two: the drift check that every service's tests run against its migrations."""
import asyncio

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from bookflow_runtime.database import messaging_metadata
from bookflow_runtime.migrations import drift


def _create(url: str, metadata: sa.MetaData) -> None:
    async def run() -> None:
        engine = create_async_engine(url)
        async with engine.begin() as conn:
            await conn.run_sync(metadata.create_all)
        await engine.dispose()

    asyncio.run(run())


def visits(*extra: sa.Column) -> sa.MetaData:
    metadata = sa.MetaData()
    sa.Table("visits", metadata, sa.Column("id", sa.Integer, primary_key=True), sa.Column("note", sa.Text), *extra,
             sa.Index("visits_note", "note"))
    return metadata


def test_a_database_built_from_the_metadata_shows_no_drift_and_a_column_only_in_the_metadata_does(make_database):
    url = make_database("drift")
    _create(url, messaging_metadata)
    _create(url, visits())
    assert drift(visits(), url) == []
    assert drift(visits(sa.Column("cost", sa.Numeric(12, 2))), url) == ["add_column: visits, cost"]
