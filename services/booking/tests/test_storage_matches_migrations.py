"""The tables the code reads and writes (storage.metadata) are the tables the migrations make:
every column, with its type and whether it may be empty; and settings stored before input was
bounded still read back within the bounds the API shows them in."""
import asyncio
from datetime import timedelta

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.ext.asyncio import create_async_engine

from bookflow_booking import MIGRATIONS, storage, tenants
from bookflow_runtime.migrations import upgrade

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
