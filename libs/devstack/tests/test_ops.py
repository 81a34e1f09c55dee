"""The ops commands against a real broker: a fresh in-memory tansu per test.

The topics are written in multi-message batches on purpose: tansu then reports ListOffsets ends
that undercount, and the report and tail must count from fetch high-water marks instead.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.structs import OffsetAndMetadata

from bookflow_contracts.envelope import Envelope, encode
from bookflow_devstack.infra import start_tansu
from bookflow_devstack.ops import GroupLag, TopicRow, format_report, tail, topic_report

ORDERS = "ops.orders"  # 2 partitions: envelopes in batches, plus one non-JSON dead letter
EMPTY = "ops.empty"  # 1 partition, never written
GROUP = "ops-reader"
P0_ENVELOPES = 15  # three batches of five
P1_ENVELOPES = 10  # two batches of five, then the non-JSON message
RAW = b"\x00\xffnot json at all"
RAW_HEADERS = [
    ("dead-letter-reason", b"undecodable"),
    ("dead-letter-consumer", b"booking"),
    ("original-topic", b"booking.created"),
    ("original-partition", b"0"),
    ("original-offset", b"7"),
]
TOTAL = P0_ENVELOPES + P1_ENVELOPES + 1


@pytest.fixture
def bootstrap():
    kafka = start_tansu()
    try:
        yield kafka.bootstrap_servers
    finally:
        kafka.stop()


@dataclass
class Sent:
    topic: str
    partition: int
    offset: int
    key: str
    headers: dict[str, str]
    value: bytes


async def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.02)


def envelope(i: int) -> Envelope:
    return Envelope(
        event_id=uuid.uuid4(),
        type="booking.created",
        tenant_id="tenant-a",
        occurred_at=datetime(2025, 3, 1, 9, 30, tzinfo=timezone.utc) + timedelta(seconds=i),
        correlation_id=f"corr-{i}",
        key=f"booking:{i}",
        payload={"n": i},
    )


async def send_batch(producer: AIOKafkaProducer, partition: int, items: list[tuple[str, bytes, list]]) -> list[int]:
    """Send `items` (key, value, headers) as one record batch; return their offsets."""
    batch = producer.create_batch()
    for key, value, headers in items:
        assert batch.append(key=key.encode(), value=value, timestamp=None, headers=headers) is not None
    meta = await (await producer.send_batch(batch, ORDERS, partition=partition))
    return [meta.offset + i for i in range(len(items))]


async def seed(bootstrap: str) -> list[Sent]:
    """Create the topics explicitly, then write ORDERS in batches; return what was written."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(ORDERS, 2, 1), NewTopic(EMPTY, 1, 1)])
    finally:
        await admin.close()

    sent: list[Sent] = []
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        n = 0
        for partition, count in ((0, P0_ENVELOPES), (1, P1_ENVELOPES)):
            for start in range(0, count, 5):
                items = []
                for _ in range(5):
                    env = envelope(n)
                    n += 1
                    items.append((env.key, encode(env), env.headers()))
                offsets = await send_batch(producer, partition, items)
                for (key, value, headers), offset in zip(items, offsets):
                    sent.append(Sent(ORDERS, partition, offset, key, {k: v.decode() for k, v in headers}, value))
        [offset] = await send_batch(producer, 1, [("booking:raw", RAW, RAW_HEADERS)])
        sent.append(Sent(ORDERS, 1, offset, "booking:raw", {k: v.decode() for k, v in RAW_HEADERS}, RAW))
    finally:
        await producer.stop()
    assert [s.offset for s in sent if s.partition == 0] == list(range(P0_ENVELOPES))
    assert [s.offset for s in sent if s.partition == 1] == list(range(P1_ENVELOPES + 1))
    return sent


async def consume_and_commit(bootstrap: str, p0_commit: int) -> None:
    """GROUP joins, reads partition 0 up to `p0_commit`, and commits only there."""
    consumer = AIOKafkaConsumer(
        ORDERS,
        bootstrap_servers=bootstrap,
        group_id=GROUP,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        session_timeout_ms=6000,
        heartbeat_interval_ms=1000,
    )
    await consumer.start()
    try:
        p0 = TopicPartition(ORDERS, 0)
        seen = -1
        deadline = time.monotonic() + 30
        while seen < p0_commit - 1:
            assert time.monotonic() < deadline, "the group did not read partition 0 in time"
            batches = await consumer.getmany(timeout_ms=500)
            seen = max([seen, *(m.offset for m in batches.get(p0, []))])
        await consumer.commit({p0: OffsetAndMetadata(p0_commit, "")})
    finally:
        await consumer.stop()


@pytest.mark.asyncio
async def test_topic_report_counts_messages_and_lag(bootstrap):
    await seed(bootstrap)
    await consume_and_commit(bootstrap, p0_commit=9)

    rows = await topic_report(bootstrap)

    assert rows == [
        TopicRow(EMPTY, 1, 0, []),
        # committed 9 on partition 0 (15 there: lag 6); nothing committed on partition 1, which
        # the group has therefore not read at all (11 there: lag 11).
        TopicRow(ORDERS, 2, TOTAL, [GroupLag(GROUP, 9, 6 + 11)]),
    ]
    table = format_report(rows).splitlines()
    assert table[0].split() == ["TOPIC", "/", "GROUP", "PARTITIONS", "MESSAGES", "COMMITTED", "LAG"]
    assert [line.split() for line in table[1:]] == [
        [EMPTY, "1", "0"],
        [ORDERS, "2", str(TOTAL)],
        [GROUP, "9", "17"],
    ]
    # Fixed width: numbers end under their headings; group lines are indented.
    messages_end = table[0].index("MESSAGES") + len("MESSAGES")
    assert table[1][:messages_end].endswith(" 0") and table[2][:messages_end].endswith(f" {TOTAL}")
    assert table[3].startswith("  " + GROUP) and len(table[3]) == len(table[0])


@pytest.mark.asyncio
async def test_topic_report_on_an_empty_broker(bootstrap):
    assert await topic_report(bootstrap) == []
    assert format_report([]) == "(no topics)"


@pytest.mark.asyncio
async def test_tail_from_beginning_prints_every_message(bootstrap):
    sent = await seed(bootstrap)
    out = io.StringIO()

    count = await tail(bootstrap, ORDERS, from_beginning=True, follow=False, limit=None, out=out, idle_seconds=1.0)

    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert count == len(lines) == TOTAL
    lines.sort(key=lambda obj: (obj["partition"], obj["offset"]))
    expected = sorted(sent, key=lambda s: (s.partition, s.offset))
    for obj, s in zip(lines, expected, strict=True):
        assert datetime.fromisoformat(obj.pop("timestamp")).tzinfo is not None
        want = {"topic": s.topic, "partition": s.partition, "offset": s.offset, "key": s.key, "headers": s.headers}
        if s.value == RAW:
            want["value_base64"] = base64.b64encode(RAW).decode()
        else:
            want["envelope"] = json.loads(s.value)
        assert obj == want
    raw = [obj for obj in lines if "value_base64" in obj]
    assert len(raw) == 1 and base64.b64decode(raw[0]["value_base64"]) == RAW
    assert raw[0]["headers"]["dead-letter-reason"] == "undecodable"


@pytest.mark.asyncio
async def test_tail_limit_and_start_at_end(bootstrap):
    await seed(bootstrap)

    out = io.StringIO()
    assert await tail(bootstrap, ORDERS, from_beginning=True, follow=False, limit=5, out=out, idle_seconds=5.0) == 5
    assert len(out.getvalue().splitlines()) == 5

    # The end is the true end (the high-water mark), not tansu's ListOffsets answer, which would
    # replay the tail of each partition's last batch.
    out = io.StringIO()
    assert await tail(bootstrap, ORDERS, from_beginning=False, follow=False, limit=None, out=out, idle_seconds=0.5) == 0
    assert out.getvalue() == ""

    with pytest.raises(ValueError):
        await tail(bootstrap, "ops.missing", from_beginning=True, follow=False, limit=None, out=io.StringIO())


@pytest.mark.asyncio
async def test_tail_follow_prints_new_messages_until_cancelled(bootstrap):
    await seed(bootstrap)
    out = io.StringIO()
    task = asyncio.create_task(tail(bootstrap, ORDERS, from_beginning=True, follow=True, limit=None, out=out, idle_seconds=0.1))
    try:
        def printed() -> int:
            assert not task.done(), "tail stopped although following"
            return len(out.getvalue().splitlines())

        await wait_until(lambda: printed() == TOTAL, 15, "the existing messages")
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
        await producer.start()
        try:
            env = envelope(99)
            await producer.send_and_wait(ORDERS, encode(env), key=env.key.encode(), partition=0, headers=env.headers())
        finally:
            await producer.stop()
        await wait_until(lambda: printed() == TOTAL + 1, 15, "the new message")
        last = json.loads(out.getvalue().splitlines()[-1])
        assert (last["partition"], last["offset"], last["envelope"]["key"]) == (0, P0_ENVELOPES, "booking:99")
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
