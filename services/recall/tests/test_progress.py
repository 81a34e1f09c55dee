"""How far the replicas have read `booking.created`, and the delivery status kept for a reminder,
on the real PostgreSQL."""
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from bookflow_recall.domain.book_again import Reminder
from bookflow_recall.storage import book_again, projection
from bookflow_runtime.database import Database

NOW = datetime(2027, 3, 3, 12, 0, tzinfo=UTC)
ALL = frozenset({0, 1, 2, 3})
STALE = timedelta(seconds=30)


async def test_the_topic_is_read_as_far_as_its_slowest_partition_by_any_live_replica(database_url):
    engine = create_async_engine(database_url, poolclass=sa.pool.NullPool)
    db, consumer = Database(engine), f"c-{uuid.uuid4().hex[:6]}"
    try:
        async with db.transaction() as s:
            await projection.report_progress(s, "a", consumer, NOW - timedelta(seconds=1), frozenset({0, 1}), ALL, NOW)
            assert await projection.caught_up_everywhere(s, consumer, NOW, STALE) is None  # 2 and 3 not covered
            await projection.report_progress(s, "b", consumer, NOW - timedelta(seconds=3), frozenset({2, 3}), ALL, NOW)
            assert await projection.caught_up_everywhere(s, consumer, NOW, STALE) == NOW - timedelta(seconds=3)
            # b's partitions moved to a, which has caught up on them since
            await projection.report_progress(s, "a", consumer, NOW, ALL, ALL, NOW)
            assert await projection.caught_up_everywhere(s, consumer, NOW, STALE) == NOW
            # a replica that stopped reporting does not count
            await projection.report_progress(s, "a", consumer, NOW, ALL, ALL, NOW - timedelta(minutes=5))
            assert await projection.caught_up_everywhere(s, consumer, NOW, STALE) is None
    finally:
        await engine.dispose()


async def test_a_late_status_never_overwrites_a_later_stage_and_each_final_status_joins_the_history_once(database_url):
    engine = create_async_engine(database_url, poolclass=sa.pool.NullPool)
    db = Database(engine)
    reminder = Reminder(uuid.uuid4(), "t-progress", uuid.uuid4(), uuid.uuid4(), "klippning", 2, "weeks", NOW, NOW, "sent", NOW, "queued")
    try:
        async with db.transaction() as s:
            await book_again.insert(s, reminder, "staff:x")
            await book_again.mark_sent(s, reminder.id, NOW)
            kw = {"reason": None, "cost": None, "currency": None, "payer": None, "segments": None}
            await book_again.record_delivery(s, "t-progress", reminder.id, "delivered", NOW + timedelta(seconds=5),
                                             **kw | {"cost": Decimal("0.80"), "currency": "SEK", "payer": "salon", "segments": 1})
            await book_again.record_delivery(s, "t-progress", reminder.id, "sent", NOW + timedelta(seconds=2), **kw)
            await book_again.record_delivery(s, "t-progress", reminder.id, "delivered", NOW + timedelta(seconds=5), **kw)
            assert not await book_again.record_delivery(s, "another-tenant", reminder.id, "failed", NOW, **kw)
            [view] = await book_again.views(s, "t-progress", reminder.customer_id)
        assert (view.delivery_status, view.cost, view.payer) == ("delivered", Decimal("0.80"), "salon")
        assert [e.kind for e in view.history] == ["sent", "delivered"]
    finally:
        await engine.dispose()
