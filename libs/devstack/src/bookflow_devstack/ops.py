"""Operator views of the broker: a topic and consumer-lag report, and a tail of one topic.

`topic_report` lists every non-internal topic with its partition count, the number of messages it
holds and, for each consumer group that has committed offsets on it, the committed total and the
lag. `format_report` renders that as a fixed-width table. `tail` prints a topic's messages as JSON
lines: envelopes decoded, anything else (such as a dead letter's original bytes) in base64.

Message counts and lag come from the high-water mark a fetch response carries
(`AIOKafkaConsumer.highwater`), not from `end_offsets` (ListOffsets): the local tansu broker
answers ListOffsets for a partition written in batches with the first offset of the last batch
plus one, which undercounts. So both functions seek each partition to just before its reported
end, fetch once, and read the high-water mark from the response; with Apache Kafka the two
agree and this costs one small fetch per partition.

Neither function joins a consumer group or commits anything, and neither touches a topic that
does not exist (a broker that auto-creates topics would otherwise create it).
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, TextIO

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

__all__ = ["GroupLag", "TopicRow", "format_report", "tail", "topic_report"]

_HIGHWATER_DEADLINE_S = 5.0
_FETCH_ROUND_MS = 200


@dataclass(frozen=True)
class GroupLag:
    """One consumer group's position on one topic, summed over the topic's partitions."""

    group: str
    committed: int
    lag: int


@dataclass(frozen=True)
class TopicRow:
    """One topic: partition count, messages held (sum of high-water marks) and groups on it."""

    topic: str
    partitions: int
    messages: int
    groups: list[GroupLag] = field(default_factory=list)


async def _topic_partitions(admin: AIOKafkaAdminClient) -> dict[str, list[TopicPartition]]:
    """Every non-internal topic's partitions, by topic name, sorted."""
    result: dict[str, list[TopicPartition]] = {}
    for meta in await admin.describe_topics():
        name = meta["topic"]
        if name.startswith("__") or meta.get("is_internal"):
            continue
        parts = sorted(p["partition"] for p in meta["partitions"])
        result[name] = [TopicPartition(name, p) for p in parts]
    return dict(sorted(result.items()))


async def _started_consumer(bootstrap_servers: str) -> AIOKafkaConsumer:
    """A started consumer without a group that commits nothing.

    Yields to the loop once after start: aiokafka 0.14's group-less consumer starts a background
    task, and a stop() before that task first runs re-raises its cancellation (CancelledError).
    """
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap_servers, group_id=None, enable_auto_commit=False)
    await consumer.start()
    await asyncio.sleep(0)
    return consumer


async def _highwaters(
    consumer: AIOKafkaConsumer, tps: Iterable[TopicPartition], deadline_s: float = _HIGHWATER_DEADLINE_S
) -> dict[TopicPartition, int]:
    """The high-water mark of each partition, read from fetch responses.

    Assigns `tps` to `consumer` (replacing its assignment) and moves its positions; the caller
    seeks afterwards if it goes on consuming. A partition whose fetch does not answer before the
    deadline keeps its ListOffsets end, a lower bound.
    """
    tps = list(tps)
    if not tps:
        return {}
    consumer.assign(tps)
    ends: dict[TopicPartition, int] = await consumer.end_offsets(tps)
    result = {tp: 0 for tp in tps if ends.get(tp, 0) <= 0}
    pending = [tp for tp in tps if ends.get(tp, 0) > 0]
    for tp in pending:
        consumer.seek(tp, max(0, ends[tp] - 1))
    deadline = time.monotonic() + deadline_s
    while pending and time.monotonic() < deadline:
        await consumer.getmany(*pending, timeout_ms=_FETCH_ROUND_MS, max_records=1)
        still = []
        for tp in pending:
            hw = consumer.highwater(tp)
            if hw is None:
                still.append(tp)
            else:
                result[tp] = max(hw, ends[tp])
        pending = still
    for tp in pending:  # no fetch answered in time
        result[tp] = ends[tp]
    return result


def _group_lags(
    group: str, committed: dict[TopicPartition, Any], topics: dict[str, list[TopicPartition]], hw: dict[TopicPartition, int]
) -> dict[str, GroupLag]:
    """A group's committed total and lag per topic it has consumed (any partition committed)."""
    out: dict[str, GroupLag] = {}
    for topic, tps in topics.items():
        offsets = {tp: committed[tp].offset for tp in tps if tp in committed and committed[tp].offset >= 0}
        if not offsets:
            continue  # the group has never consumed this topic
        total = sum(offsets.values())
        # A partition without a commit (-1) counts as entirely unread once the group reads the topic.
        lag = sum(max(0, hw[tp] - offsets.get(tp, 0)) for tp in tps)
        out[topic] = GroupLag(group, total, lag)
    return out


async def topic_report(bootstrap_servers: str) -> list[TopicRow]:
    """Partitions, message count and per-group committed offsets and lag of each non-internal topic."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers)
    await admin.start()
    try:
        topics = await _topic_partitions(admin)
        all_tps = [tp for tps in topics.values() for tp in tps]
        hw: dict[TopicPartition, int] = {}
        if all_tps:
            consumer = await _started_consumer(bootstrap_servers)
            try:
                hw = await _highwaters(consumer, all_tps)
            finally:
                await consumer.stop()

        per_topic: dict[str, list[GroupLag]] = {t: [] for t in topics}
        if all_tps:
            groups = sorted({g[0] for g in await admin.list_consumer_groups()})
            for group in groups:
                # tansu answers only with an explicit partition list.
                committed = await admin.list_consumer_group_offsets(group, partitions=all_tps)
                for topic, lag in _group_lags(group, committed, topics, hw).items():
                    per_topic[topic].append(lag)
    finally:
        await admin.close()

    return [
        TopicRow(topic, len(tps), sum(hw[tp] for tp in tps), per_topic[topic])
        for topic, tps in topics.items()
    ]


def format_report(rows: list[TopicRow]) -> str:
    """A fixed-width table: one line per topic, then one indented line per group on it."""
    headers = ("TOPIC / GROUP", "PARTITIONS", "MESSAGES", "COMMITTED", "LAG")
    lines: list[tuple[str, str, str, str, str]] = []
    for row in rows:
        lines.append((row.topic, str(row.partitions), str(row.messages), "", ""))
        for g in row.groups:
            lines.append(("  " + g.group, "", "", str(g.committed), str(g.lag)))
    widths = [max(len(h), *(len(line[i]) for line in lines)) if lines else len(h) for i, h in enumerate(headers)]

    def render(cells: tuple[str, ...]) -> str:
        first = cells[0].ljust(widths[0])
        rest = (c.rjust(w) for c, w in zip(cells[1:], widths[1:]))
        return "  ".join((first, *rest)).rstrip()

    if not rows:
        return "(no topics)"
    return "\n".join([render(headers), *(render(line) for line in lines)])


def _text_or_none(raw: bytes | None) -> str | None:
    if raw is None:
        return None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _record(msg: Any) -> dict[str, Any]:
    """One consumed message as a JSON-ready dict."""
    obj: dict[str, Any] = {"topic": msg.topic, "partition": msg.partition, "offset": msg.offset}
    key = _text_or_none(msg.key)
    obj["key"] = key
    if msg.key is not None and key is None:
        obj["key_base64"] = base64.b64encode(msg.key).decode("ascii")
    obj["headers"] = {name: (value or b"").decode("utf-8", errors="replace") for name, value in (msg.headers or ())}
    ts = msg.timestamp
    obj["timestamp"] = (
        datetime.fromtimestamp(ts / 1000, tz=timezone.utc).isoformat() if ts is not None and ts >= 0 else None
    )
    decoded: Any = None
    if msg.value is not None:
        try:
            decoded = json.loads(msg.value)
        except ValueError:  # not JSON, or not text at all
            decoded = None
    if isinstance(decoded, dict):
        obj["envelope"] = decoded
    else:
        obj["value_base64"] = None if msg.value is None else base64.b64encode(msg.value).decode("ascii")
    return obj


async def tail(
    bootstrap_servers: str,
    topic: str,
    *,
    from_beginning: bool,
    follow: bool,
    limit: int | None,
    out: TextIO,
    idle_seconds: float = 2.0,
) -> int:
    """Print `topic`'s messages to `out`, one JSON object per line; return how many were printed.

    Each line has topic, partition, offset, key (text, or null with `key_base64` when the key is
    not UTF-8), headers (name to text; a repeated name keeps its last value), timestamp (ISO 8601,
    UTC) and either `envelope` (the value, when it is a JSON object) or `value_base64` (null for
    a tombstone). Reads every partition without a consumer group and commits nothing.

    Starts at the beginning, or with `from_beginning` false at the current end. Stops after
    `limit` messages, if given; otherwise, without `follow`, once `idle_seconds` pass without a
    new message, and with `follow` only when cancelled. Raises ValueError for an unknown topic.
    """
    if limit is not None and limit <= 0:
        return 0
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers)
    await admin.start()
    try:
        tps = (await _topic_partitions(admin)).get(topic)
    finally:
        await admin.close()
    if not tps:
        raise ValueError(f"no such topic: {topic!r}")

    consumer = await _started_consumer(bootstrap_servers)
    count = 0
    try:
        if from_beginning:
            consumer.assign(tps)
            await consumer.seek_to_beginning(*tps)
        else:
            ends = await _highwaters(consumer, tps)
            for tp in tps:
                consumer.seek(tp, ends[tp])
        last_message = time.monotonic()
        while True:
            if not follow:
                remaining = idle_seconds - (time.monotonic() - last_message)
                if remaining <= 0:
                    break
                timeout_ms = max(1, min(_FETCH_ROUND_MS, int(remaining * 1000)))
            else:
                timeout_ms = _FETCH_ROUND_MS
            max_records = None if limit is None else limit - count
            batches = await consumer.getmany(timeout_ms=timeout_ms, max_records=max_records)
            for tp in sorted(batches):
                for msg in batches[tp]:
                    out.write(json.dumps(_record(msg), ensure_ascii=False) + "\n")
                    out.flush()
                    count += 1
                    if limit is not None and count >= limit:
                        return count
            if batches:
                last_message = time.monotonic()
    finally:
        await consumer.stop()
    return count
