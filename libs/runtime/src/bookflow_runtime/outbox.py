"""The transactional outbox: `put` stores an outgoing message in the caller's transaction;
`OutboxRelay` publishes stored messages to Kafka in order, in batches, and marks them published.

A crash after the commit loses nothing: the relay publishes what is unpublished when it runs
again. A crash between publishing and marking publishes the same envelope (same event id) twice,
which consumers' inboxes absorb. One relay per service database publishes at a time (an advisory
lock), so per-key order holds with several replicas.
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
from sqlalchemy.dialects import postgresql as pg
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from bookflow_contracts import Envelope, Message, encode
from bookflow_runtime import context, faults, metrics
from bookflow_runtime.database import outbox, unnest

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


def _row(envelope: Envelope, topic: str) -> dict:
    return {
        "event_id": envelope.event_id,
        "topic": topic,
        "key": envelope.key,
        "value": encode(envelope),
        "headers": {k: v.decode() for k, v in envelope.headers()},
    }


# One statement for any number of rows: arrays in, rows out (many times faster than executemany).
_INSERT_MANY = sa.text(
    "INSERT INTO outbox (event_id, topic, key, value, headers) SELECT * FROM "
    + unnest({"event_ids": "uuid", "topics": "text", "keys": "text", "values": "bytea", "headers": "jsonb"})
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
    return envelope


async def put_many(session: AsyncSession, envelopes: Iterable[tuple[Envelope, str]]) -> int:
    """Store many (envelope, topic) pairs in one statement; returns how many."""
    rows = [_row(env, topic) for env, topic in envelopes]
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
        self._wakeup = asyncio.Event()
        self._last_cleanup = 0.0

    def wake(self) -> None:
        """Publish soon: something was just committed to the outbox."""
        self._wakeup.set()

    async def run(self) -> None:
        """Publish until cancelled; reconnect and back off on database or broker errors."""
        backoff = 0.1
        while True:
            try:
                async with self._engine.connect() as conn:
                    if await self._lead(conn):
                        backoff = 0.1
                        await self._publish_forever(conn)
                    else:
                        await self._sleep(self._poll_seconds)
            except asyncio.CancelledError:
                raise
            except Exception:
                _log.exception("outbox relay failed; retrying in %.1f s", backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)

    async def _lead(self, conn: AsyncConnection) -> bool:
        got = (await conn.execute(sa.select(sa.func.pg_try_advisory_lock(self._lock_id)))).scalar()
        await conn.commit()
        return bool(got)

    async def _publish_forever(self, conn: AsyncConnection) -> None:
        while True:
            published = await self.publish_batch(conn)
            if published < self._batch_size:
                await self._cleanup(conn)
                await self._sleep(self._poll_seconds)

    async def publish_batch(self, conn: AsyncConnection) -> int:
        """Publish up to one batch of unpublished rows; return how many."""
        self._wakeup.clear()
        rows = (
            await conn.execute(
                sa.select(outbox.c.id, outbox.c.topic, outbox.c.key, outbox.c.value, outbox.c.headers)
                .where(outbox.c.published_at.is_(None))
                .order_by(outbox.c.id)
                .limit(self._batch_size)
            )
        ).all()
        await conn.commit()
        if not rows:
            return 0
        faults.point("relay.before-publish")
        await self._send_all(rows)
        faults.point("relay.after-publish")
        await conn.execute(
            sa.update(outbox)
            .where(outbox.c.id == sa.func.any(sa.literal([row.id for row in rows], pg.ARRAY(sa.BigInteger))))
            .values(published_at=sa.func.now())
        )
        await conn.commit()
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
        for row in rows:
            key = row.key.encode()
            headers = [(k, str(v).encode()) for k, v in row.headers.items()]
            if row.topic not in partitions_of:  # one metadata look-up per topic, not per row
                partitions_of[row.topic] = sorted(await self._producer.partitions_for(row.topic))
            partitions = partitions_of[row.topic]
            where = (row.topic, _partitioner(key, partitions, partitions))
            batch = batches.get(where)
            if batch is None or batch.append(key=key, value=row.value, timestamp=None, headers=headers) is None:
                if batch is not None:
                    acks.append(await self._producer.send_batch(batch, where[0], partition=where[1]))
                batch = self._producer.create_batch()
                if batch.append(key=key, value=row.value, timestamp=None, headers=headers) is None:
                    # larger than a whole batch: a plain send, which reports the size problem
                    acks.append(await self._producer.send(row.topic, row.value, key=key, headers=headers))
                    batch = None
            if batch is not None:
                batches[where] = batch
            else:
                batches.pop(where, None)
        for (topic, partition), batch in batches.items():
            acks.append(await self._producer.send_batch(batch, topic, partition=partition))
        await asyncio.gather(*acks)

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

    async def _sleep(self, seconds: float) -> None:
        try:
            await asyncio.wait_for(self._wakeup.wait(), seconds)
        except TimeoutError:
            pass
