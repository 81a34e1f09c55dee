"""The transactional outbox: `put` stores an outgoing message in the caller's transaction;
`OutboxRelay` publishes stored messages to Kafka in order, in batches, and marks them published.

A crash after the commit loses nothing: the relay publishes what is unpublished when it runs
again. A crash between publishing and marking publishes the same envelope (same event id) twice,
which consumers' inboxes absorb. One relay per service database publishes at a time (an advisory
lock), so per-key order holds with several replicas; it is woken by PostgreSQL's NOTIFY, which
every transaction that writes to the outbox sends on commit, whichever process committed it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
import zlib
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from aiokafka import AIOKafkaProducer
from aiokafka.partitioner import DefaultPartitioner
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from bookflow_contracts import Envelope, Message, encode
from bookflow_runtime import context, faults, metrics
from bookflow_runtime.database import outbox, unnest
from bookflow_runtime.errors import BookflowError
from bookflow_runtime.kafka import MAX_RECORD_BYTES
from bookflow_runtime.loop import Wakeup, in_turns, run_rounds

_log = logging.getLogger(__name__)
_partitioner = DefaultPartitioner()


def envelope_for(
    message: Message,
    *,
    tenant_id: str,
    occurred_at: datetime | None = None,
    event_id: uuid.UUID | None = None,
) -> Envelope:
    """Wrap `message`, inheriting correlation and cause from the conversation under way."""
    conv = context.current()
    return Envelope.wrap(
        message,
        tenant_id=tenant_id,
        occurred_at=occurred_at or datetime.now(UTC),
        correlation_id=conv.correlation_id if conv else None,
        causation_id=conv.event_id if conv else None,
        event_id=event_id,
    )


class MessageTooLarge(BookflowError):
    """A message larger than any consumer could dead-letter is refused when it is written."""

    status = 413
    code = "message-too-large"


def _row(envelope: Envelope, topic: str) -> dict:
    value = encode(envelope)
    if len(value) > MAX_RECORD_BYTES:
        raise MessageTooLarge(f"a {envelope.type} of {len(value):,} bytes is larger than the {MAX_RECORD_BYTES:,} bytes a message may have")
    return {
        "event_id": envelope.event_id,
        "topic": topic,
        "key": envelope.key,
        "value": value,
        "headers": {k: v.decode() for k, v in envelope.headers()},
    }


CHANNEL = "bookflow_outbox"
"""The PostgreSQL notification channel a commit with outbox rows signals on."""


# One statement for any number of rows: arrays in, rows out (many times faster than executemany);
# it also signals the relay, which PostgreSQL delivers on commit (a NOTIFY of its own was one
# more round trip in every transaction that writes a batch).
_INSERT_MANY = sa.text(
    "WITH inserted AS (INSERT INTO outbox (event_id, topic, key, value, headers) SELECT * FROM "
    + unnest({"event_ids": "uuid", "topics": "text", "keys": "text", "values": "bytea", "headers": "jsonb"})
    + f" RETURNING 1) SELECT pg_notify('{CHANNEL}', '')"
)


async def put(
    session: AsyncSession,
    message: Message,
    *,
    tenant_id: str,
    occurred_at: datetime | None = None,
    event_id: uuid.UUID | None = None,
) -> Envelope:
    """Store `message` for publishing on its topic when the caller's transaction commits."""
    envelope = envelope_for(message, tenant_id=tenant_id, occurred_at=occurred_at, event_id=event_id)
    await session.execute(sa.insert(outbox).values(**_row(envelope, message.topic)))
    _signal_on_commit(session)
    return envelope


async def put_many(session: AsyncSession, envelopes: Iterable[tuple[Envelope, str]]) -> int:
    """Store many (envelope, topic) pairs in one statement; returns how many."""
    rows = [_row(env, topic) async for env, topic in in_turns(envelopes)]
    if rows:
        await session.execute(
            _INSERT_MANY,
            {
                "event_ids": [r["event_id"] for r in rows],
                "topics": [r["topic"] for r in rows],
                "keys": [r["key"] for r in rows],
                "values": [r["value"] for r in rows],
                "headers": [json.dumps(r["headers"]) for r in rows],
            },
        )
    return len(rows)


_UNPUBLISHED = (
    "SELECT id, topic, key, value, headers::text AS headers FROM outbox"
    " WHERE published_at IS NULL ORDER BY id LIMIT $1"
)


def _mark_published(ids: list[int]) -> str:
    """The mark, committed without waiting for its WAL to reach the disk: a mark lost in a crash of
    PostgreSQL only means the rows are published again, which is the crash window the relay
    already has (consumers' inboxes absorb it); the rows themselves were committed durably by
    their writers. Waiting for the flush made every round of the relay wait for the disk once
    more (pg_stat_activity showed the mark waiting 3-9 ms a round at a steady 1,000 timers a
    second). One simple-protocol round trip: the ids are integers from the database."""
    return (
        "BEGIN; SET LOCAL synchronous_commit TO off; "
        f"UPDATE outbox SET published_at = now() WHERE id = ANY('{{{','.join(str(int(i)) for i in ids)}}}'::bigint[]); COMMIT"
    )


def _notify(sync_session: Any) -> None:
    sync_session.execute(sa.text(f"NOTIFY {CHANNEL}"))


def _signal_on_commit(session: AsyncSession) -> None:
    """NOTIFY the relay as the transaction commits (PostgreSQL delivers it only on commit, and
    once however many rows were written)."""
    if not sa.event.contains(session.sync_session, "before_commit", _notify):
        sa.event.listen(session.sync_session, "before_commit", _notify)


class OutboxRelay:
    """Publishes unpublished outbox rows, oldest first, and marks them published."""

    def __init__(
        self,
        engine: AsyncEngine,
        producer: AIOKafkaProducer,
        *,
        lock_name: str,
        batch_size: int = 2000,
        poll_seconds: float = 1.0,
        retention_seconds: float = 86400.0,
    ) -> None:
        self._engine = engine
        self._producer = producer
        self._lock_id = zlib.crc32(f"bookflow-outbox:{lock_name}".encode())
        self._batch_size = batch_size
        self._poll_seconds = poll_seconds
        self._retention = retention_seconds
        self._wakeup = Wakeup()
        self._last_cleanup = 0.0

    def wake(self) -> None:
        """Publish soon (rows were committed in this process)."""
        self._wakeup.wake()

    async def run(self) -> None:
        """Publish until cancelled; a lost connection or broker is waited out (see run_rounds)."""
        await run_rounds("outbox relay", self._lead_while_connected, self._wakeup)

    async def _lead_while_connected(self) -> float:
        """Hold one connection: try to become the leader; as the leader, publish until the
        connection fails. Returns how long to wait before trying to lead again."""
        async with self._engine.connect() as conn:
            if not await self._lead(conn):
                return self._poll_seconds
            raw = (await conn.get_raw_connection()).driver_connection
            await raw.add_listener(CHANNEL, self._wakeup.wake)
            try:
                while True:
                    if await self._publish_batch(raw) < self._batch_size:
                        await self._cleanup(conn)
                        await self._wakeup.rest(self._poll_seconds)
            finally:
                await raw.remove_listener(CHANNEL, self._wakeup.wake)

    async def _lead(self, conn: AsyncConnection) -> bool:
        got = (await conn.execute(sa.select(sa.func.pg_try_advisory_lock(self._lock_id)))).scalar()
        await conn.commit()
        return bool(got)

    async def publish_batch(self, conn: AsyncConnection) -> int:
        """Publish up to one batch of unpublished rows; return how many."""
        return await self._publish_batch((await conn.get_raw_connection()).driver_connection)

    async def _publish_batch(self, raw: Any) -> int:
        """`publish_batch` on the driver's connection: the read and the mark are one round trip
        each (they were six through SQLAlchemy, with a BEGIN and a COMMIT around each: a third
        of the time from a commit to the broker at a steady 1,000 timers a second; see
        bench/README.md, scheduler)."""
        # Commits signalled from here on are after this read began: they wake the next round.
        # Those signalled before are in this read, so their signal would only cost an empty round.
        self._wakeup.clear()
        rows = await raw.fetch(_UNPUBLISHED, self._batch_size)
        if not rows:
            return 0
        faults.point("relay.before-publish")
        await self._send_all(rows)
        faults.point("relay.after-publish")
        await raw.execute(_mark_published([row["id"] for row in rows]))
        metrics.OUTBOX_PUBLISHED.inc(len(rows))
        return len(rows)

    async def _send_all(self, rows: list) -> None:
        """Publish rows in order and wait until the broker has them all.

        Rows are appended to one record batch per partition (the partition Kafka's default
        partitioner gives the key, as a plain send would), so a thousand rows cost a few
        requests, not a thousand sends; per partition the batches go in row order."""
        batches: dict[tuple[str, int], Any] = {}
        partitions_of: dict[str, list[int]] = {}
        acks = []
        async for row in in_turns(rows):
            topic, key, value = row["topic"], row["key"].encode(), row["value"]
            headers = [(k, str(v).encode()) for k, v in json.loads(row["headers"]).items()]
            if topic not in partitions_of:  # one metadata look-up per topic, not per row
                partitions_of[topic] = sorted(await self._producer.partitions_for(topic))
            partitions = partitions_of[topic]
            where = (topic, _partitioner(key, partitions, partitions))
            batch = batches.get(where)
            if batch is None or batch.append(key=key, value=value, timestamp=None, headers=headers) is None:
                if batch is not None:
                    acks.append(await self._send_batch(batch, where))
                batch = self._producer.create_batch()
                if batch.append(key=key, value=value, timestamp=None, headers=headers) is None:
                    # larger than a whole batch: a plain send, which reports the size problem
                    acks.append(await self._producer.send(topic, value, key=key, headers=headers))
                    batch = None
            if batch is not None:
                batches[where] = batch
            else:
                batches.pop(where, None)
        for where, batch in batches.items():
            acks.append(await self._send_batch(batch, where))
        await asyncio.gather(*acks)

    async def _send_batch(self, batch: Any, where: tuple[str, int]) -> asyncio.Future:
        """Hand a finished batch to the producer. Closed first: aiokafka sends a closed batch at
        once, while an open one waits out the producer's `linger_ms` for more records that the
        relay would never add (5 ms more on every row's way to the broker)."""
        batch.close()
        return await self._producer.send_batch(batch, where[0], partition=where[1])

    async def _cleanup(self, conn: AsyncConnection) -> None:
        loop = asyncio.get_running_loop()
        if loop.time() - self._last_cleanup < 60:
            return
        self._last_cleanup = loop.time()
        old = (
            sa.select(outbox.c.id)
            .where(outbox.c.published_at < sa.func.now() - sa.text(f"interval '{int(self._retention)} seconds'"))
            .limit(10_000)
        )
        await conn.execute(sa.delete(outbox).where(outbox.c.id.in_(old.scalar_subquery())))
        await conn.commit()
