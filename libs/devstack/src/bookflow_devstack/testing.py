"""Test fixtures and helpers: the real broker and PostgreSQL (see infra for which), fresh
databases per test module, services run in-process or as processes, and waiting on conditions
with deadlines instead of sleeping."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import os
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.structs import ConsumerRecord

from bookflow_contracts import Envelope, Message, encode
from bookflow_devstack import infra
from bookflow_runtime import development
from bookflow_runtime.auth import issue_staff_token
from bookflow_runtime.migrations import upgrade

T = TypeVar("T")

# The tests run the services in development mode (public development secrets, the sandbox), in
# this process and in the processes they start; a test of production mode says so itself.
os.environ.setdefault(development.ENVIRONMENT_FLAG, "1")

OPERATOR = {"Authorization": f"Bearer {development.OPERATOR_TOKEN}"}
"""Headers of an operator's request in development mode."""


def daytime_zone() -> str:
    """A zone where it is now early afternoon, so a tenant's quiet hours (X7) never hold a test's
    messages, whatever hour the suite runs. Its date is always the UTC date (an offset from -9 to
    +14 h), so a test may take a UTC date for the tenant's day at any hour: at 00:30 UTC early
    afternoon is at UTC+14, not at UTC-10, whose afternoon is still yesterday."""
    hours_ahead = (14 - datetime.now(UTC).hour) % 24
    hours_ahead = hours_ahead - 24 if hours_ahead > 14 else hours_ahead  # Etc/GMT spans -12..+14
    return "Etc/GMT" + (f"{-hours_ahead:+d}" if hours_ahead else "")


def staff_headers(tenant_id: str, *roles: str, subject: str = "front-desk") -> dict[str, str]:
    """Headers of a staff member of `tenant_id` (a planner unless `roles` say otherwise), with a
    token signed by the development key, as the booking service would issue it."""
    token = issue_staff_token(development.STAFF_TOKEN_PRIVATE_KEY, tenant_id, subject, roles or ("planner",))
    return {"Authorization": f"Bearer {token}"}


async def wait_until(check: Callable[[], Any], *, timeout: float = 20.0, interval: float = 0.05, what: str = "condition") -> Any:
    """Poll `check` (sync or async) until it returns something truthy; fail after `timeout`."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        last = check()
        if inspect.isawaitable(last):
            last = await last
        if last:
            return last
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what} (last: {last!r})")
        await asyncio.sleep(interval)


def envelope(message: Message, tenant_id: str, **kwargs: Any) -> Envelope:
    """Wrap a message as a producer in a test would."""
    return Envelope.wrap(message, tenant_id=tenant_id, occurred_at=datetime.now(UTC), **kwargs)


def new_tenant() -> str:
    return f"t-{uuid.uuid4().hex[:10]}"


class Kafka:
    """The test's view of the broker: publish raw or enveloped messages, read topics."""

    def __init__(self, bootstrap_servers: str) -> None:
        self.bootstrap_servers = bootstrap_servers
        self._producer: AIOKafkaProducer | None = None

    async def producer(self) -> AIOKafkaProducer:
        if self._producer is None:
            self._producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap_servers, enable_idempotence=False)
            await self._producer.start()
        return self._producer

    async def publish(self, topic: str, value: bytes, key: bytes | None = None, headers: list | None = None) -> None:
        await (await self.producer()).send_and_wait(topic, value, key=key, headers=headers)

    async def publish_envelope(self, env: Envelope, topic: str | None = None) -> None:
        from bookflow_contracts import message_types

        topic = topic or message_types()[env.type].topic
        await self.publish(topic, encode(env), env.key.encode(), env.headers())

    @contextlib.asynccontextmanager
    async def reader(self, *topics: str) -> AsyncIterator["TopicReader"]:
        """Read the topics from the beginning, without a consumer group."""
        reader = TopicReader(self.bootstrap_servers, topics)
        await reader.start()
        try:
            yield reader
        finally:
            await reader.stop()

    async def close(self) -> None:
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None


class TopicReader:
    """Collects every record of some topics from the beginning; `wait_for` polls with a deadline."""

    def __init__(self, bootstrap_servers: str, topics: tuple[str, ...]) -> None:
        self.records: list[ConsumerRecord] = []
        self._consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap_servers, enable_auto_commit=False, auto_offset_reset="earliest")
        self._topics = topics

    async def start(self) -> None:
        await self._consumer.start()
        partitions = []
        for topic in self._topics:
            parts = self._consumer.partitions_for_topic(topic)
            if parts is None:
                await self._consumer._client.force_metadata_update()  # noqa: SLF001 (topic just created)
                parts = self._consumer.partitions_for_topic(topic) or set()
            partitions += [TopicPartition(topic, p) for p in parts]
        self._consumer.assign(partitions)
        await self._consumer.seek_to_beginning(*partitions)

    async def stop(self) -> None:
        await self._consumer.stop()

    async def poll(self) -> list[ConsumerRecord]:
        batch = await self._consumer.getmany(timeout_ms=100)
        for records in batch.values():
            self.records.extend(records)
        return self.records

    async def wait_for(self, match: Callable[[ConsumerRecord], bool], *, count: int = 1, timeout: float = 20.0, what: str = "records") -> list[ConsumerRecord]:
        async def found() -> list[ConsumerRecord] | None:
            hits = [r for r in await self.poll() if match(r)]
            return hits if len(hits) >= count else None

        return await wait_until(found, timeout=timeout, what=what)

    def envelopes(self, topic: str | None = None) -> list[Envelope]:
        out = []
        for r in self.records:
            if topic and r.topic != topic:
                continue
            with contextlib.suppress(Exception):
                out.append(Envelope.model_validate_json(r.value))
        return out


def envelope_of(record: ConsumerRecord) -> Envelope | None:
    try:
        return Envelope.model_validate_json(record.value)
    except Exception:  # noqa: BLE001
        return None


def header(record: ConsumerRecord, name: str) -> str | None:
    for key, value in record.headers or ():
        if key == name:
            return value.decode()
    return None


# --- fixtures --------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def scratch_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("bookflow")


@pytest.fixture(scope="session")
def postgres_server(scratch_dir: Path) -> Iterator[infra.Postgres]:
    server = infra.postgres_for_tests(scratch_dir)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def _shared_kafka() -> Iterator[infra.Kafka | None]:
    """A broker from the environment or a container is shared by the session; None means
    each test module starts its own fresh local broker."""
    if os.environ.get("KAFKA_BOOTSTRAP_SERVERS") or infra.docker_answers():
        kafka = infra.kafka_for_tests()
        yield kafka
        kafka.stop()
    else:
        yield None


@contextlib.contextmanager
def broker(shared: infra.Kafka | None) -> Iterator[infra.Kafka]:
    """The session's shared broker, or else a fresh local one stopped afterwards."""
    if shared is not None:
        yield shared
        return
    kafka = infra.start_tansu()
    try:
        yield kafka
    finally:
        kafka.stop()


@contextlib.asynccontextmanager
async def broker_client(kafka_server: infra.Kafka) -> AsyncIterator[Kafka]:
    """A test's client of `kafka_server`, every topic of the contracts created first."""
    from bookflow_contracts import topics
    from bookflow_runtime.kafka import ensure_topics

    await ensure_topics(kafka_server.bootstrap_servers, topics.ALL, partitions=4)
    k = Kafka(kafka_server.bootstrap_servers)
    try:
        yield k
    finally:
        await k.close()


def broker_fixtures(scope: str) -> tuple[Any, Any]:
    """The `kafka_server` and `kafka` fixtures, one broker per `scope` (module here;
    `broker_per_test` has them per test)."""

    @pytest.fixture(name="kafka_server", scope=scope)
    def kafka_server(_shared_kafka: infra.Kafka | None) -> Iterator[infra.Kafka]:
        with broker(_shared_kafka) as server:
            yield server

    @pytest.fixture(name="kafka", scope=scope)
    async def kafka(kafka_server: infra.Kafka) -> AsyncIterator[Kafka]:
        async with broker_client(kafka_server) as client:
            yield client

    return kafka_server, kafka


kafka_server, kafka = broker_fixtures("module")


@pytest.fixture(scope="module")
def make_database(postgres_server: infra.Postgres) -> Iterator[Callable[[str, Path | None], str]]:
    """Create a fresh database for this module (migrated when given a migrations folder)."""
    created: list[str] = []

    def make(label: str, migrations: Path | None = None) -> str:
        name = f"bft_{os.getpid()}_{uuid.uuid4().hex[:8]}_{label}"
        url = postgres_server.create_database(name, fresh=True)
        created.append(name)
        if migrations is not None:
            upgrade(migrations, url)
        return url

    yield make
    for name in created:
        with contextlib.suppress(Exception):
            postgres_server.drop_database(name)


@contextlib.asynccontextmanager
async def running_service(create_app: Callable[[Any], Any], settings: Any) -> AsyncIterator[tuple[Any, httpx.AsyncClient]]:
    """Run a service in this process (consumers, relay, loops) and give an HTTP client to it."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://service") as client:
            yield app.state.runtime, client


def dump(obj: Any) -> str:
    return json.dumps(obj, default=str, indent=1)


