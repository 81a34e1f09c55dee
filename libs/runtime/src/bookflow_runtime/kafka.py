"""Talking to the broker: a bounded wait for it, explicit topic creation, the producer every
service uses, and the dead-letter topic."""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Iterable
from datetime import UTC, datetime

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError
from aiokafka.structs import ConsumerRecord

from bookflow_contracts import topics
from bookflow_runtime import metrics

_log = logging.getLogger(__name__)


class BrokerUnreachable(RuntimeError):
    """The broker did not answer within the start-up wait."""


async def connect_admin(bootstrap_servers: str, wait_seconds: float) -> AIOKafkaAdminClient:
    """An admin client, retrying until the broker answers or `wait_seconds` pass."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_seconds
    last: Exception | None = None
    while loop.time() < deadline:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, request_timeout_ms=5000)
        try:
            await asyncio.wait_for(admin.start(), max(0.5, deadline - loop.time()))
            return admin
        except (KafkaError, OSError, TimeoutError) as exc:
            last = exc
            await admin.close()
            await asyncio.sleep(0.25)
    raise BrokerUnreachable(
        f"Kafka at {bootstrap_servers} did not answer within {wait_seconds:.0f} s ({last!r}); "
        "set KAFKA_BOOTSTRAP_SERVERS or start the broker"
    )


async def ensure_topics(
    bootstrap_servers: str,
    names: Iterable[str] = topics.ALL,
    *,
    partitions: int = 4,
    replication: int = 1,
    wait_seconds: float = 20.0,
) -> None:
    """Create the topics that do not exist yet. Raises BrokerUnreachable after the wait."""
    admin = await connect_admin(bootstrap_servers, wait_seconds)
    try:
        existing = set(await admin.list_topics())
        missing = [n for n in names if n not in existing]
        if not missing:
            return
        response = await admin.create_topics(
            [NewTopic(n, num_partitions=partitions, replication_factor=replication) for n in missing]
        )
        for topic_error in getattr(response, "topic_errors", []):
            name, code = topic_error[0], topic_error[1]
            if code not in (0, TopicAlreadyExistsError.errno):
                raise RuntimeError(f"could not create topic {name}: error code {code}")
        _log.info("created topics %s with %d partitions", ", ".join(missing), partitions)
    finally:
        await admin.close()


MAX_RECORD_BYTES = 900 * 1024
"""The largest record any service publishes: under the producer's and Apache Kafka's 1 MiB
default, with room for headers, so that whatever is published can also be dead-lettered."""
DEAD_LETTER_KEEP_BYTES = 64 * 1024
"""How much of a record's value (and key) a dead letter keeps; larger ones keep the beginning,
their size and SHA-256 (headers `original-size`, `original-sha256`)."""


def new_producer(bootstrap_servers: str) -> AIOKafkaProducer:
    """The producer for outbox and dead letters: every replica acknowledges; no idempotence,
    which the local broker lacks; consumers deduplicate instead."""
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap_servers,
        acks="all",
        enable_idempotence=False,
        linger_ms=5,
        max_batch_size=256 * 1024,
        max_request_size=1024 * 1024,
        request_timeout_ms=15000,
    )


async def dead_letter(producer: AIOKafkaProducer, record: ConsumerRecord, *, consumer: str, reason: str) -> None:
    """Publish the record to the dead-letter topic: its key and bytes (trimmed when large, so a
    dead letter never fails for its size), the reason and origin in headers. Waits until the
    broker has it; raises KafkaError if it cannot."""
    value, key = record.value or b"", record.key or b""
    original = [(k, v) for k, v in (record.headers or ()) if len(k) + len(v) < 4096][:32]
    headers = original + [
        ("dead-letter-reason", reason[:4000].encode()),
        ("dead-letter-consumer", consumer.encode()),
        ("original-topic", record.topic.encode()),
        ("original-partition", str(record.partition).encode()),
        ("original-offset", str(record.offset).encode()),
        ("dead-lettered-at", datetime.now(UTC).isoformat().encode()),
    ]
    if len(value) > DEAD_LETTER_KEEP_BYTES or len(key) > DEAD_LETTER_KEEP_BYTES:
        headers += [
            ("original-size", str(len(value)).encode()),
            ("original-sha256", hashlib.sha256(value).hexdigest().encode()),
            ("dead-letter-trimmed", b"true"),
        ]
        value, key = value[:DEAD_LETTER_KEEP_BYTES], key[:1024]
    sent = await producer.send(topics.DEAD_LETTER, value, key=key or None, headers=headers)
    await sent
    _log.warning("dead-lettered %s[%d]@%d: %s", record.topic, record.partition, record.offset, reason[:500])


SENTINEL_TOPIC = "bookflow.sentinel"
"""Prefix of each service's sentinel topic (`bookflow.sentinel.<service>`), created with the
other topics and touched by no producer or consumer, so nothing re-creates it by accident: when
it is gone, the broker has lost its topics (a broker restarted without its data), not merely one
topic. One per service, because the first service to notice re-creates every topic: with one
shared sentinel, the others would find it back and never notice (seen in the broker-restart
system test)."""


def sentinel_topic(service: str) -> str:
    return f"{SENTINEL_TOPIC}.{service}"


class BrokerWatch:
    """Looks at the broker every `every_seconds`: when this service's sentinel topic is gone the
    broker has lost its data (topics, consumer groups, committed offsets). Logged loudly,
    counted, the topics made again, and reported by readiness until they are back."""

    def __init__(self, bootstrap_servers: str, names: Iterable[str], *, partitions: int, replication: int,
                 sentinel: str = SENTINEL_TOPIC) -> None:
        self.bootstrap_servers = bootstrap_servers
        self.sentinel = sentinel
        self.names = (*names, sentinel)
        self.partitions = partitions
        self.replication = replication
        self.problem: str | None = None
        self.last_loss: datetime | None = None

    async def look(self) -> None:
        """One look; raises on a broker that does not answer (readiness reports it meanwhile)."""
        try:
            admin = await connect_admin(self.bootstrap_servers, 5)
        except BrokerUnreachable:
            self.problem = f"broker at {self.bootstrap_servers} does not answer"
            raise
        try:
            existing = set(await admin.list_topics())
        finally:
            await admin.close()
        if self.sentinel in existing:
            if self.problem and "does not answer" in self.problem:
                self.problem = None
            return
        self.last_loss = datetime.now(UTC)
        missing = sorted(set(self.names) - existing)
        self.problem = f"the broker lost its topics ({', '.join(missing)}) at {self.last_loss.isoformat()}; re-creating them"
        metrics.BROKER_DATA_LOST.inc()
        _log.critical("the broker at %s has lost its topics and consumer groups (restarted without its data?): "
                      "messages it held are gone; re-creating %s", self.bootstrap_servers, ", ".join(missing))
        await ensure_topics(self.bootstrap_servers, self.names, partitions=self.partitions, replication=self.replication, wait_seconds=5)
        self.problem = None
        _log.critical("topics re-created on %s; consumers start again from the beginning of the new topics", self.bootstrap_servers)
