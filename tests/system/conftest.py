"""The five services as separate processes on the real broker and PostgreSQL."""
from __future__ import annotations

import asyncio
import contextlib
import os
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from bookflow_devstack.infra import Kafka, Postgres, free_port, start_tansu
from bookflow_devstack.processes import SERVICES, Stack
from bookflow_devstack.testing import OPERATOR, daytime_zone, new_tenant, staff_headers


@pytest.fixture(scope="session")
def kafka_server(_shared_kafka):
    """One broker for all system tests: they share one running system (tenants keep them apart)."""
    if _shared_kafka is not None:
        yield _shared_kafka
        return
    kafka = start_tansu()
    yield kafka
    kafka.stop()


@pytest.fixture(scope="session")
def stack(kafka_server, postgres_server, tmp_path_factory) -> Stack:
    """The five services as processes, started once for all system tests."""
    stack = Stack(
        kafka_server, postgres_server, tmp_path_factory.mktemp("logs"),
        {name: free_port() for name in SERVICES},
        database_prefix=f"bfsys_{os.getpid()}_{uuid.uuid4().hex[:6]}_",
    )
    stack.prepare(fresh=True)
    stack.start()
    yield stack
    stack.stop()
    stack.drop_databases()


class PrivateBroker:
    """A tansu of one test module's own, on a port that stays the same across restarts (a test
    that restarts the broker must not take the shared one from the other system tests)."""

    def __init__(self, log_dir: Path) -> None:
        self.port = free_port()
        self.log_path = log_dir / "tansu.log"
        self.kafka: Kafka = start_tansu(self.port, self.log_path)

    @property
    def bootstrap_servers(self) -> str:
        return self.kafka.bootstrap_servers

    def restart_empty(self) -> None:
        """Stop the broker and start a new one on the same port: every topic, group and offset is gone."""
        self.kafka.stop()
        deadline = time.monotonic() + 30
        while True:
            try:
                self.kafka = start_tansu(self.port, self.log_path)
                return
            except RuntimeError:  # the port is not free again yet
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def stop(self) -> None:
        self.kafka.stop()


@contextlib.contextmanager
def private_stack(postgres: Postgres, log_dir: Path, env: dict[str, str] | None = None) -> Iterator[tuple[Stack, PrivateBroker]]:
    """The five services on a broker of their own (and databases of their own), for tests that
    stop, restart or starve them in ways the shared stack's tests must not see."""
    log_dir.mkdir(parents=True, exist_ok=True)
    broker = PrivateBroker(log_dir)
    stack = Stack(
        Kafka(broker.bootstrap_servers, "private tansu"), postgres, log_dir, {name: free_port() for name in SERVICES},
        database_prefix=f"bfown_{os.getpid()}_{uuid.uuid4().hex[:6]}_", extra_env={name: dict(env or {}) for name in SERVICES},
    )
    try:
        stack.prepare(fresh=True)
        stack.start()
        yield stack, broker
    finally:
        stack.stop()
        stack.drop_databases()
        broker.stop()


async def open_tenant(stack: Stack, **settings) -> tuple[str, dict[str, str]]:
    """A tenant created by the operator, and its planner's headers."""
    tenant = new_tenant()
    async with httpx.AsyncClient(timeout=10) as client:
        created = await client.put(f"{stack.services['booking'].url}/tenants/{tenant}", headers=OPERATOR,
                                   json={"name": "Verkstad", "time_zone": daytime_zone(), "language": "sv", **settings})
    assert created.status_code == 200, created.text
    return tenant, staff_headers(tenant)


async def sandbox_messages(stack: Stack, tenant: str) -> list[dict]:
    async with httpx.AsyncClient(timeout=5) as client:
        answer = await client.get(f"{stack.services['notification'].url}/sandbox/messages", params={"tenant_id": tenant})
    answer.raise_for_status()
    return answer.json()


class Load:
    """A steady stream of bookings by e-mail, each with a reminder due two seconds later, so that
    every service has messages flowing: booking.created to check-in and recall, notices to the
    notification service, timers to the scheduler and their firings back to booking."""

    def __init__(self, stack: Stack, tenant: str, headers: dict[str, str], per_second: float = 8) -> None:
        self.stack, self.tenant, self.headers, self.per_second = stack, tenant, headers, per_second
        self.accepted = 0
        self.refused = 0
        self._task: asyncio.Task | None = None

    async def _run(self) -> None:
        async with httpx.AsyncClient(timeout=5) as client:
            n = 0
            while True:
                n += 1
                start = datetime.now(UTC) + timedelta(days=7, minutes=n)
                body = {"customer": {"name": f"Kund {n}", "email": f"kund{n}@example.se", "language": "sv"}, "service": "service",
                        "starts_at": start.isoformat(), "ends_at": (start + timedelta(minutes=30)).isoformat(),
                        "reminder_at": (datetime.now(UTC) + timedelta(seconds=2)).isoformat()}
                try:
                    answer = await client.post(f"{self.stack.services['booking'].url}/tenants/{self.tenant}/bookings",
                                               json=body, headers=self.headers)
                    if answer.status_code == 201:
                        self.accepted += 1
                    else:
                        self.refused += 1
                except httpx.HTTPError:
                    self.refused += 1  # booking itself is the one stopping
                await asyncio.sleep(1 / self.per_second)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="load")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
