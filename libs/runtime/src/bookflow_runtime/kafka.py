"""Talking to the broker: a bounded wait for it, explicit topic creation, the producer every
service uses, and the dead-letter topic."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from datetime import UTC, datetime

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError
from aiokafka.structs import ConsumerRecord

from bookflow_contracts import topics

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


def new_producer(bootstrap_servers: str) -> AIOKafkaProducer:
    """The producer for outbox and dead letters: every replica acknowledges; no idempotence,
    which the local broker lacks; consumers deduplicate instead."""
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap_servers,
        acks="all",
        enable_idempotence=False,
        linger_ms=5,
        max_batch_size=256 * 1024,
        request_timeout_ms=15000,
    )


async def dead_letter(producer: AIOKafkaProducer, record: ConsumerRecord, *, consumer: str, reason: str) -> None:
    """Publish the record's original key and bytes to the dead-letter topic, the reason and
    origin in headers. Waits until the broker has it."""
    headers = list(record.headers or ()) + [
        ("dead-letter-reason", reason[:4000].encode()),
        ("dead-letter-consumer", consumer.encode()),
        ("original-topic", record.topic.encode()),
        ("original-partition", str(record.partition).encode()),
        ("original-offset", str(record.offset).encode()),
        ("dead-lettered-at", datetime.now(UTC).isoformat().encode()),
    ]
    sent = await producer.send(topics.DEAD_LETTER, record.value, key=record.key, headers=headers)
    await sent
    _log.warning("dead-lettered %s[%d]@%d: %s", record.topic, record.partition, record.offset, reason)
