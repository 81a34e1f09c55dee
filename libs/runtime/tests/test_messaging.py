"""The messaging every service stands on, on the real broker and PostgreSQL: outbox and relay,
inbox, dead letters, correlation, and refusing to start without a broker."""
from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from bookflow_contracts import BookingCreated, CustomerSnapshot, Envelope, OrderTransitioned, topics
from bookflow_devstack.testing import envelope, envelope_of, header, new_tenant, running_service, wait_until
from bookflow_runtime import metrics, outbox
from bookflow_runtime.consumer import Consumer
from bookflow_runtime.database import create_engine, messaging_metadata
from bookflow_runtime.kafka import BrokerUnreachable, new_producer
from bookflow_runtime.outbox import OutboxRelay
from bookflow_runtime.runtime import ServiceRuntime
from bookflow_runtime.settings import ServiceSettings

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
effects = sa.table("effects", sa.column("event_id"), sa.column("booking_id"))
POISON = "Poison"  # a customer of this name makes the test handler fail


@pytest.fixture(scope="module")
def database_url(make_database) -> str:
    url = make_database("runtime")

    async def create() -> None:
        engine = create_engine(url)
        async with engine.begin() as conn:
            await conn.run_sync(messaging_metadata.create_all)
            await conn.execute(sa.text("CREATE TABLE effects (event_id uuid PRIMARY KEY, booking_id uuid NOT NULL)"))
        await engine.dispose()

    asyncio.run(create())
    return url


def booking_created(name: str = "Kari Nordmann") -> BookingCreated:
    return BookingCreated(
        booking_id=uuid.uuid4(),
        customer=CustomerSnapshot(customer_id=uuid.uuid4(), name=name),
        service="haircut",
        starts_at=NOW + timedelta(days=3),
        ends_at=NOW + timedelta(days=3, hours=1),
        state="unconfirmed",
    )


async def record_effect(session: AsyncSession, event: BookingCreated, env: Envelope) -> None:
    """The test handler: stores one row per event and announces a transition."""
    if event.customer.name == POISON:
        raise ValueError("this customer always fails")
    await session.execute(sa.insert(effects).values(event_id=env.event_id, booking_id=event.booking_id))
    await outbox.put(
        session,
        OrderTransitioned(booking_id=event.booking_id, from_state="unconfirmed", to_state="confirmed", transition="confirm", actor="system"),
        tenant_id=env.tenant_id,
    )


def settings(database_url: str, kafka, **kw) -> ServiceSettings:
    return ServiceSettings(
        service_name=kw.pop("service_name", "runtime-test"), database_url=database_url,
        kafka_bootstrap_servers=kafka.bootstrap_servers, **kw,
    )


def create_app(s: ServiceSettings):
    runtime = ServiceRuntime(s, title="test", description="test service")
    runtime.consume(Consumer("bookings", topics.BOOKING_CREATED, {BookingCreated: record_effect}))
    return runtime.http_app()


async def effect_count(runtime: ServiceRuntime, booking_id: uuid.UUID) -> int:
    async with runtime.db.transaction() as s:
        return (await s.execute(sa.select(sa.func.count()).select_from(effects).where(effects.c.booking_id == booking_id))).scalar()


async def test_messages_are_published_after_commit_in_order_per_key_and_never_after_rollback(database_url, kafka):
    tenant = new_tenant()
    first, second = uuid.uuid4(), uuid.uuid4()
    async with running_service(create_app, settings(database_url, kafka)) as (runtime, _):
        async with runtime.db.transaction() as s:
            for step in range(5):
                for booking in (first, second):
                    await outbox.put(s, OrderTransitioned(booking_id=booking, from_state="booked", to_state="booked", transition="step", actor="test", reason=str(step + 1)), tenant_id=tenant)
        with pytest.raises(RuntimeError):
            async with runtime.db.transaction() as s:
                await outbox.put(s, OrderTransitioned(booking_id=first, from_state="booked", to_state="cancelled", transition="step", actor="test", reason="rolled back"), tenant_id=tenant)
                raise RuntimeError("the state change failed")
        async with kafka.reader(topics.ORDER_TRANSITIONED) as reader:
            mine = await reader.wait_for(lambda r: header(r, "tenant-id") == tenant, count=10, what="10 transitions")
            for booking in (first, second):
                steps = [envelope_of(r).payload["reason"] for r in mine if envelope_of(r).payload["booking_id"] == str(booking)]
                assert steps == ["1", "2", "3", "4", "5"]
            assert len({r.partition for r in mine if envelope_of(r).payload["booking_id"] == str(first)}) == 1
        async def all_marked_published():
            async with runtime.db.transaction() as s:
                return (await s.execute(sa.text("SELECT count(*) FROM outbox WHERE published_at IS NULL"))).scalar() == 0

        await wait_until(all_marked_published, what="every published row marked")


async def test_rows_committed_while_no_relay_ran_are_published_when_it_starts(database_url, kafka):
    """The crash between commit and publish: rows committed with no relay alive are published, once."""
    tenant = new_tenant()
    engine = create_engine(database_url)
    events = []
    async with AsyncSession(engine) as s, s.begin():
        for _ in range(3):
            events.append(await outbox.put(s, booking_created().model_copy(), tenant_id=tenant))
    await engine.dispose()
    async with running_service(create_app, settings(database_url, kafka)):
        async with kafka.reader(topics.BOOKING_CREATED) as reader:
            got = await reader.wait_for(lambda r: header(r, "tenant-id") == tenant, count=3)
            assert sorted(header(r, "event-id") for r in got) == sorted(str(e.event_id) for e in events)


async def test_two_relays_on_one_database_publish_each_message_once(database_url, kafka):
    tenant = new_tenant()
    engine = create_engine(database_url)
    async with AsyncSession(engine) as s, s.begin():
        for _ in range(200):
            await outbox.put(s, OrderTransitioned(booking_id=uuid.uuid4(), from_state="booked", to_state="cancelled", transition="cancel", actor="x"), tenant_id=tenant)
    producers = [new_producer(kafka.bootstrap_servers) for _ in range(2)]
    for p in producers:
        await p.start()
    relays = [OutboxRelay(engine, p, lock_name="two-relays", batch_size=50, poll_seconds=0.05) for p in producers]
    tasks = [asyncio.create_task(r.run()) for r in relays]
    try:
        async with kafka.reader(topics.ORDER_TRANSITIONED) as reader:
            await reader.wait_for(lambda r: header(r, "tenant-id") == tenant, count=200)
            async def settled():
                async with AsyncSession(engine) as s:
                    return (await s.execute(sa.text("SELECT count(*) FROM outbox WHERE published_at IS NULL"))).scalar() == 0
            await wait_until(settled, what="every row marked published")
            await reader.poll()
            ids = [header(r, "event-id") for r in reader.records if header(r, "tenant-id") == tenant]
            assert len(ids) == len(set(ids)) == 200
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for p in producers:
            await p.stop()
        await engine.dispose()


async def test_the_same_event_delivered_twice_has_one_effect(database_url, kafka):
    tenant = new_tenant()
    event = booking_created()
    env = envelope(event, tenant)
    async with running_service(create_app, settings(database_url, kafka)) as (runtime, client):
        before = metrics.DUPLICATES_SKIPPED.labels("runtime-test.bookings")._value.get()
        await kafka.publish_envelope(env)
        await kafka.publish_envelope(env)
        await wait_until(lambda: metrics.DUPLICATES_SKIPPED.labels("runtime-test.bookings")._value.get() == before + 1, what="the duplicate to be skipped")
        assert await effect_count(runtime, event.booking_id) == 1
        async with kafka.reader(topics.ORDER_TRANSITIONED) as reader:
            caused = await reader.wait_for(lambda r: header(r, "tenant-id") == tenant)
            assert len(caused) == 1
            out = envelope_of(caused[0])
            assert out.correlation_id == env.correlation_id
            assert out.causation_id == str(env.event_id)


async def test_a_second_consumer_of_a_topic_leaves_what_cannot_be_read_to_the_first(database_url, kafka):
    """Two consumers read one topic (as notification's requests and withdrawals do): a record that
    is no envelope is dead-lettered once, by the consumer that reports it, not once by each."""
    seen: list[uuid.UUID] = []

    async def note(session: AsyncSession, event: BookingCreated, env: Envelope) -> None:
        seen.append(event.booking_id)

    def two_consumers(s: ServiceSettings):
        runtime = ServiceRuntime(s, title="test", description="test service")
        runtime.consume(Consumer("bookings", topics.BOOKING_CREATED, {BookingCreated: record_effect}))
        runtime.consume(Consumer("bookings-noted", topics.BOOKING_CREATED, {BookingCreated: note}, reports_undecodable=False))
        return runtime.http_app()

    tenant, key = new_tenant(), f"junk-{uuid.uuid4()}".encode()
    after = booking_created()
    async with running_service(two_consumers, settings(database_url, kafka, service_name="runtime-test-two")) as (runtime, _):
        await kafka.publish(topics.BOOKING_CREATED, b"\xff not json at all", key=key)
        await kafka.publish(topics.BOOKING_CREATED, envelope(after, tenant).model_dump_json().encode(), key=key)  # same partition, after it
        await wait_until(lambda: after.booking_id in seen, what="the second consumer to pass the junk")
        await wait_until(lambda: effect_count(runtime, after.booking_id), what="the first consumer to pass the junk")
        await kafka.publish(topics.DEAD_LETTER, b"marker", key=key)  # behind any dead letter of the junk
        async with kafka.reader(topics.DEAD_LETTER) as reader:
            records = await reader.wait_for(lambda r: r.key == key and r.value == b"marker", what="the marker")
            dead = [r for r in reader.records if r.key == key and r.value != b"marker"]
    assert records
    assert [header(r, "dead-letter-consumer") for r in dead] == ["runtime-test-two.bookings"]


async def test_malformed_messages_are_dead_lettered_and_valid_ones_around_them_are_handled(database_url, kafka):
    tenant = new_tenant()
    before, after = booking_created(), booking_created()
    broken = envelope(booking_created(), tenant).model_dump(mode="json")
    del broken["payload"]["starts_at"]
    async with running_service(create_app, settings(database_url, kafka)) as (runtime, _):
        await kafka.publish_envelope(envelope(before, tenant))
        await kafka.publish(topics.BOOKING_CREATED, b"\xff not json at all", key=b"junk")
        await kafka.publish(topics.BOOKING_CREATED, Envelope.model_validate(broken).model_dump_json().encode(), key=b"broken")
        await kafka.publish_envelope(envelope(after, tenant))
        await wait_until(lambda: effect_count(runtime, after.booking_id), what="the message after the bad ones")
        assert await effect_count(runtime, before.booking_id) == 1
        async with kafka.reader(topics.DEAD_LETTER) as reader:
            dead = await reader.wait_for(lambda r: r.key in (b"junk", b"broken"), count=2)
        by_key = {r.key: r for r in dead}
        assert by_key[b"junk"].value == b"\xff not json at all"
        assert header(by_key[b"junk"], "dead-letter-reason").startswith("undecodable: not a bookflow envelope")
        assert "starts_at" in header(by_key[b"broken"], "dead-letter-reason")
        assert header(by_key[b"broken"], "original-topic") == topics.BOOKING_CREATED


async def test_a_handler_that_keeps_failing_is_dead_lettered_and_the_consumer_carries_on(database_url, kafka):
    tenant = new_tenant()
    poison, fine = booking_created(POISON), booking_created()
    async with running_service(create_app, settings(database_url, kafka, handler_attempts=2)) as (runtime, _):
        await kafka.publish_envelope(envelope(poison, tenant))
        await kafka.publish_envelope(envelope(fine, tenant))
        await wait_until(lambda: effect_count(runtime, fine.booking_id), what="the message after the failing one")
        async with kafka.reader(topics.DEAD_LETTER) as reader:
            dead = await reader.wait_for(lambda r: header(r, "tenant-id") == tenant)
        assert header(dead[0], "dead-letter-reason") == "handler-failed: ValueError: this customer always fails (after 2 attempts)"
        assert await effect_count(runtime, poison.booking_id) == 0


async def test_a_service_refuses_to_start_when_the_broker_does_not_answer(database_url):
    class Nowhere:
        bootstrap_servers = "127.0.0.1:1"

    app = create_app(settings(database_url, Nowhere, broker_wait_seconds=1))
    with pytest.raises(BrokerUnreachable, match=r"Kafka at 127.0.0.1:1 did not answer within 1 s"):
        async with app.router.lifespan_context(app):
            pass


async def test_one_failing_message_in_a_burst_does_not_hold_back_or_repeat_the_others(database_url, kafka):
    """A burst is handled in batches; a failing record sends its batch round one by one, and
    every other record still has exactly one effect."""
    tenant = new_tenant()
    events = [booking_created(POISON if i == 25 else f"Customer {i}") for i in range(50)]
    producer = await kafka.producer()
    async with running_service(create_app, settings(database_url, kafka, handler_attempts=2)) as (runtime, _):
        for event in events:
            env = envelope(event, tenant)
            await producer.send(topics.BOOKING_CREATED, env.model_dump_json().encode(), key=b"one-key", headers=env.headers())
        await producer.flush()

        async def all_handled():
            async with runtime.db.transaction() as s:
                ids = [e.booking_id for e in events]
                return (await s.execute(sa.select(sa.func.count()).select_from(effects).where(effects.c.booking_id.in_(ids)))).scalar() == 49

        await wait_until(all_handled, what="the 49 good messages")
        async with kafka.reader(topics.DEAD_LETTER) as reader:
            dead = await reader.wait_for(lambda r: header(r, "tenant-id") == tenant)
        assert [envelope_of(r).payload["customer"]["name"] for r in dead] == [POISON]
        async with kafka.reader(topics.ORDER_TRANSITIONED) as reader:
            await reader.wait_for(lambda r: header(r, "tenant-id") == tenant, count=49)
            assert len([r for r in await reader.poll() if header(r, "tenant-id") == tenant]) == 49


async def test_a_batch_handler_takes_a_burst_together_and_a_duplicate_inside_it_once(database_url, kafka):
    """Handlers that take many messages at once get the burst in few calls; the same event twice
    in one burst has one effect, and a failing message still dead-letters alone."""
    tenant = new_tenant()
    calls: list[int] = []

    async def record_all(session: AsyncSession, items: list[tuple[BookingCreated, Envelope]]) -> None:
        calls.append(len(items))
        if any(event.customer.name == POISON for event, _ in items):
            raise ValueError("this customer always fails")
        await session.execute(sa.insert(effects), [{"event_id": env.event_id, "booking_id": event.booking_id} for event, env in items])

    def create_batch_app(s: ServiceSettings):
        runtime = ServiceRuntime(s, title="test", description="test service")
        runtime.consume(Consumer("bookings", topics.BOOKING_CREATED, batch_handlers={BookingCreated: record_all}))
        return runtime.http_app()

    events = [booking_created(POISON if i == 60 else f"Customer {i}") for i in range(120)]
    envelopes = [envelope(event, tenant) for event in events]
    producer = await kafka.producer()
    s = settings(database_url, kafka, service_name="runtime-batch-test", handler_attempts=2)
    async with running_service(create_batch_app, s) as (runtime, _):
        for env in [*envelopes, envelopes[10]]:  # the 11th once more, in the same burst
            await producer.send(topics.BOOKING_CREATED, env.model_dump_json().encode(), key=b"one-key", headers=env.headers())
        await producer.flush()

        async def all_handled():
            async with runtime.db.transaction() as session:
                ids = [e.booking_id for e in events]
                return (await session.execute(sa.select(sa.func.count()).select_from(effects).where(effects.c.booking_id.in_(ids)))).scalar() == 119

        await wait_until(all_handled, what="the 119 good messages")
        async with kafka.reader(topics.DEAD_LETTER) as reader:
            dead = await reader.wait_for(lambda r: header(r, "tenant-id") == tenant)
        assert [envelope_of(r).payload["customer"]["name"] for r in dead] == [POISON]
        assert await effect_count(runtime, events[10].booking_id) == 1
        assert max(calls) > 1, "the burst was handed over together"
