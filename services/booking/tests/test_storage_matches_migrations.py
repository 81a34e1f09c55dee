"""One schema, not two: the tables the code reads and writes (storage.metadata) are the tables the
migrations make — every table, column, type, nullability, index, unique, foreign-key and check
constraint — and a column added to the metadata only is caught; settings stored before input was
bounded still read back within the bounds the API shows them in."""
import asyncio
from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from bookflow_booking import MIGRATIONS, storage, tenants
from bookflow_runtime.migrations import drift, upgrade


@pytest.fixture(scope="module")
def migrated(make_database) -> str:
    return make_database("booking_schema", MIGRATIONS)


def _with_extra_column(table: str, column: sa.Column) -> sa.MetaData:
    copy = sa.MetaData()
    for t in storage.metadata.tables.values():
        t.to_metadata(copy)
    copy.tables[table].append_column(column)
    return copy


async def _check_constraints(url: str) -> set[tuple[str, str]]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            def read(sync) -> set[tuple[str, str]]:
                inspector = sa.inspect(sync)
                return {(table, c["name"]) for table in inspector.get_table_names() for c in inspector.get_check_constraints(table)}
            return await conn.run_sync(read)
    finally:
        await engine.dispose()


async def test_the_storage_tables_are_the_migrated_tables(migrated):
    assert await asyncio.to_thread(drift, storage.metadata, migrated) == []
    # Alembic does not compare CHECK constraints: compare their names here.
    declared = {(t.name, c.name) for t in storage.metadata.tables.values() for c in t.constraints if isinstance(c, sa.CheckConstraint)}
    assert declared == await _check_constraints(migrated) - {("outbox", None), ("inbox", None)}


async def test_a_column_added_to_the_tables_but_not_to_the_migrations_is_caught(migrated):
    added = _with_extra_column("customers", sa.Column("nickname", sa.Text))
    assert await asyncio.to_thread(drift, added, migrated) == ["add_column: customers, nickname"]
    assert await asyncio.to_thread(drift, storage.metadata, migrated) == []  # the real tables are untouched


@pytest.fixture(scope="module")
def before_bounds(make_database) -> str:
    url = make_database("booking_0002")
    upgrade(MIGRATIONS, url, "0002")
    return url


async def test_tenant_settings_stored_before_input_was_bounded_read_back_within_the_bounds(before_bounds):
    engine = create_async_engine(before_bounds)
    row = {"time_zone": "Europe/Oslo", "language": "nb", "flow": "letter", "reminder_before": timedelta(days=10),
           "release_after_reminder": timedelta(days=3), "letter_response_time": timedelta(days=900),
           "sms_response_time": timedelta(days=2), "appointment_reminder_at": tenants._DEFAULT.appointment_reminder_at,
           "channels": ["sms", "letter"]}
    try:
        async with engine.begin() as conn:
            await conn.execute(sa.insert(storage.tenants), [
                row | {"id": "pinea", "name": "Pinea", "letter_folder": "/srv/letters/pinea/", "reply_number": "+47 594 40 000"},
                row | {"id": "dots", "name": "Dots", "letter_folder": "../..", "reply_number": "call us"},
            ])
        await asyncio.to_thread(upgrade, MIGRATIONS, before_bounds)
        async with engine.begin() as conn:
            rows = (await conn.execute(sa.select(storage.tenants).order_by(storage.tenants.c.id.desc()))).mappings()
            pinea, dots = [storage.tenant_of(r) for r in rows]
    finally:
        await engine.dispose()
    assert (pinea.letter_folder, pinea.reply_number, pinea.letter_response_time) == ("pinea", "+4759440000", timedelta(days=365))
    assert (dots.letter_folder, dots.reply_number) == (None, None)
    for tenant in (pinea, dots):
        tenants._out(tenant)  # the API's answer model takes them as they are now
