"""The scheduler as a process, on the real broker and PostgreSQL: replicas, crashes and outages
neither lose a timer nor fire one twice."""
from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from bookflow_contracts import SetTimer, encode, topics
from bookflow_devstack.broker_per_test import kafka, kafka_server  # noqa: F401 (fixtures: a broker per test)
from bookflow_devstack.infra import free_port
from bookflow_devstack.processes import ServiceProcess, service_env
from bookflow_devstack.testing import OPERATOR, envelope, envelope_of, header, new_tenant, wait_until
from bookflow_scheduler import MIGRATIONS


@pytest.fixture
def scheduler_db(make_database) -> str:
    return make_database("scheduler", MIGRATIONS)


def scheduler(kafka_server, database_url: str, tmp_path, name: str = "scheduler") -> ServiceProcess:
    port = free_port()
    return ServiceProcess("scheduler", port, service_env("scheduler", kafka_server, database_url, port), tmp_path / f"{name}.log")


async def set_timers(kafka, tenant: str, count: int, due_at: datetime) -> None:
    producer = await kafka.producer()
    for i in range(count):
        env = envelope(SetTimer(timer_key=f"booking:{i}:reminder", due_at=due_at, payload={"i": i}), tenant)
        await producer.send(topics.TIMER_REQUESTS, encode(env), key=env.key.encode(), headers=env.headers())
    await producer.flush()


async def pending(service: ServiceProcess, tenant: str) -> int:
    async with httpx.AsyncClient() as client:
        counts = (await client.get(f"{service.url}/timers/counts", headers=OPERATOR)).json()
    return sum(c["count"] for c in counts if c["tenant_id"] == tenant and c["state"] == "pending")


async def consuming(service: ServiceProcess, kafka) -> None:
    """Wait until the service reads every partition of timer.requests: a process is ready before
    its group has assigned it partitions (a member of a process that died or stopped while joining
    holds some until its session times out)."""
    probe = new_tenant()
    await set_timers(kafka, probe, 40, datetime.now(UTC) + timedelta(hours=1))
    await wait_until(lambda: _all_pending(service, probe, 40), timeout=60, what="the scheduler to read every partition")


async def fired_keys(reader, tenant: str, count: int, timeout: float = 120) -> list[str]:
    await reader.wait_for(lambda r: header(r, "tenant-id") == tenant, count=count, timeout=timeout, what=f"{count} firings")
    return [envelope_of(r).payload["timer_key"] for r in await reader.poll() if header(r, "tenant-id") == tenant]


async def test_two_replicas_fire_ten_thousand_timers_exactly_once_each(kafka_server, kafka, scheduler_db, tmp_path):
    tenant = new_tenant()
    replicas = [scheduler(kafka_server, scheduler_db, tmp_path, f"replica-{i}") for i in range(2)]
    try:
        for r in replicas:
            r.start()
        for r in replicas:
            r.wait_ready()
        await set_timers(kafka, tenant, 10_000, datetime.now(UTC) + timedelta(seconds=8))
        async with kafka.reader(topics.REMINDER_DUE) as reader:
            await fired_keys(reader, tenant, 10_000)
            await wait_until(lambda: _all_fired(replicas[0], tenant), what="no timer left pending")
            assert all(r.alive() for r in replicas)
            keys = [envelope_of(r).payload["timer_key"] for r in await reader.poll() if header(r, "tenant-id") == tenant]
        assert len(keys) == len(set(keys)) == 10_000
    finally:
        for r in replicas:
            r.stop()


async def test_a_scheduler_killed_mid_batch_fires_every_timer_once_after_restart(kafka_server, kafka, scheduler_db, tmp_path):
    tenant = new_tenant()
    service = scheduler(kafka_server, scheduler_db, tmp_path)
    service.start(extra_env={"BOOKFLOW_FAULTS": "scheduler.mid-batch"})
    try:
        service.wait_ready()
        await set_timers(kafka, tenant, 500, datetime.now(UTC) + timedelta(seconds=3))
        assert service.wait_exit(timeout=60) == 70  # died holding a claimed, uncommitted batch
        async with kafka.reader(topics.REMINDER_DUE) as reader:
            assert [r for r in await reader.poll() if header(r, "tenant-id") == tenant] == []
            service.start()
            service.wait_ready()
            await fired_keys(reader, tenant, 500)
            await wait_until(lambda: _all_fired(service, tenant), what="no timer left pending")
            keys = [envelope_of(r).payload["timer_key"] for r in await reader.poll() if header(r, "tenant-id") == tenant]
        assert sorted(keys) == sorted(f"booking:{i}:reminder" for i in range(500))
    finally:
        service.stop()


async def test_timers_that_came_due_during_a_30_second_outage_fire_at_once_marked_late(kafka_server, kafka, scheduler_db, tmp_path):
    tenant = new_tenant()
    service = scheduler(kafka_server, scheduler_db, tmp_path)
    service.start()
    try:
        service.wait_ready()
        await consuming(service, kafka)  # else the timers may be stored only once due, and fire before the outage
        due_at = datetime.now(UTC) + timedelta(seconds=3)
        await set_timers(kafka, tenant, 100, due_at)
        await wait_until(lambda: _all_pending(service, tenant, 100), what="the timers to be stored")
        service.kill()  # the outage begins before they are due
        outage_ends = due_at + timedelta(seconds=30)
        await wait_until(lambda: datetime.now(UTC) >= outage_ends, timeout=45, interval=0.5, what="the outage to last 30 s past the due time")
        restarted = time.monotonic()
        service.start()
        service.wait_ready()
        async with kafka.reader(topics.REMINDER_DUE) as reader:
            await fired_keys(reader, tenant, 100)
            caught_up = time.monotonic() - restarted
            firings = [envelope_of(r).payload for r in reader.records if header(r, "tenant-id") == tenant]
        assert len(firings) == 100
        assert min(f["lateness_ms"] for f in firings) >= 30_000
        assert caught_up < 30, f"catching up took {caught_up:.1f} s"
    finally:
        service.stop()


async def test_a_scheduler_killed_without_leaving_its_group_serves_at_once_on_restart(kafka_server, kafka, scheduler_db, tmp_path):
    """The dead process's group membership lingers until its session times out (40 s here);
    the new process answers meanwhile and takes the timers requested while it waits to join."""
    tenant = new_tenant()
    service = scheduler(kafka_server, scheduler_db, tmp_path)
    lingering = {"BOOKFLOW_CONSUMER_SESSION_TIMEOUT_MS": "40000"}
    service.start(extra_env=lingering)
    try:
        service.wait_ready()
        service.kill()
        service.start(extra_env=lingering)
        service.wait_ready(timeout=25)  # joining the group would take the 40 s of the dead member's session
        assert await pending(service, tenant) == 0
        await set_timers(kafka, tenant, 10, datetime.now(UTC))
        async with kafka.reader(topics.REMINDER_DUE) as reader:
            assert sorted(await fired_keys(reader, tenant, 10)) == sorted(f"booking:{i}:reminder" for i in range(10))
    finally:
        service.stop()


async def _all_fired(service: ServiceProcess, tenant: str) -> bool:
    return await pending(service, tenant) == 0


async def _all_pending(service: ServiceProcess, tenant: str, count: int) -> bool:
    return await pending(service, tenant) == count
