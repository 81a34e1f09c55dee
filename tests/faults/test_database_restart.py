"""Found by the fault campaign: a PostgreSQL restart must be waited out, never taken for a bad
message. Valid messages keep coming to every consumer while PostgreSQL restarts; afterwards each
is in its consumer's inbox and none was dead-lettered (README, "How messages are kept safe":
database and broker outages are retried, never dead-lettered)."""
from __future__ import annotations

import asyncio
import random
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg
import httpx
import pytest

from bookflow_contracts import Envelope, encode, message_types, topics
from bookflow_devstack.processes import SERVICES
from bookflow_devstack.testing import Kafka
from tests.faults.campaign import OPERATOR, Faults, Isolated, call, daytime_zone
from tests.faults.poison import TIMER_OWNERS, consumed_types, dead_letters, inbox_rows, valid_message, wait_for_lag_zero

pytestmark = [pytest.mark.system, pytest.mark.faults]

SECONDS = 10.0  # of messages, with PostgreSQL shutting down after 2.5 s
PER_SECOND = 25
SHUTTING_DOWN = 3.0


async def restart_slowly(system: Isolated, faults: Faults) -> None:
    """A restart whose shutdown takes a few seconds, as one under load does (its checkpoint, a
    client slow to leave): a smart shutdown held open by one session of ours, every service's
    connection ended meanwhile, so each of them reconnects and hears "the database system is
    shutting down" for `SHUTTING_DOWN` seconds; then down for a second and started again."""
    hold = await asyncpg.connect(system.postgres.url("postgres", "postgresql"))
    restarting = asyncio.create_task(faults.restart_postgres(down_seconds=1.0, mode="smart"))
    try:
        deadline = time.monotonic() + 10
        while True:  # until new connections are refused
            try:
                probe = await asyncpg.connect(system.postgres.url("postgres", "postgresql"), timeout=2)
            except asyncpg.CannotConnectNowError:
                break
            await probe.close()
            assert time.monotonic() < deadline, "PostgreSQL did not begin to shut down"
            await asyncio.sleep(0.05)
        await hold.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                           "WHERE pid <> pg_backend_pid() AND backend_type = 'client backend'")
        faults.log.note(f"every service's connection ended; new ones refused for {SHUTTING_DOWN:.0f} s")
        await asyncio.sleep(SHUTTING_DOWN)
    finally:
        await hold.close()
    await restarting


@dataclass(frozen=True)
class Sent:
    id: str  # the event id (dead letters are matched by it)
    topic: str
    message_type: str
    owner: str  # of a reminder's timer: only the service owning it handles the reminder

    def for_service(self, service: str) -> bool:
        return self.topic != topics.REMINDER_DUE or TIMER_OWNERS[self.owner] == service


async def test_valid_messages_that_arrive_while_postgresql_restarts_are_handled_and_none_dead_lettered(
        system: Isolated, faults: Faults, client: httpx.AsyncClient) -> None:
    tenant_id = f"d-{uuid.uuid4().hex[:10]}"
    created = await call(client, "PUT", f"{system.url('booking')}/tenants/{tenant_id}", headers=OPERATOR,
                         json={"name": "Omstart AB", "time_zone": daytime_zone(), "language": "sv", "flow": "confirmation"})
    assert created is not None and created.status_code == 200, created and created.text
    await wait_for_lag_zero(system.kafka.bootstrap_servers, within=60)
    handles = await consumed_types(system, client)
    kinds = sorted({(topic, t) for service in SERVICES for topic, types in handles.get(service, {}).items()
                    for t in types if t in message_types() and t != "tenant.updated"})
    rng = random.Random(7)
    kafka = Kafka(system.kafka.bootstrap_servers)
    sent: list[Sent] = []
    owners = sorted(TIMER_OWNERS)

    async def stream() -> None:
        began = time.monotonic()
        while time.monotonic() - began < SECONDS:
            topic, kind = kinds[len(sent) % len(kinds)]
            owner = owners[len(sent) // len(kinds) % len(owners)]
            env = Envelope.wrap(valid_message(kind, tenant_id, rng, owner=owner), tenant_id=tenant_id, occurred_at=datetime.now(UTC))
            await kafka.publish(topic, encode(env), env.key.encode(), env.headers())
            sent.append(Sent(str(env.event_id), topic, kind, owner))
            await asyncio.sleep(1 / PER_SECOND)

    try:
        publishing = asyncio.create_task(stream())
        await asyncio.sleep(2.5)
        await restart_slowly(system, faults)
        await publishing
        behind = await wait_for_lag_zero(system.kafka.bootstrap_servers, within=120)
        lost = await dead_letters(kafka, {s.id: s for s in sent}, {s.id for s in sent})
    finally:
        await kafka.close()
    unhandled = []
    for service in SERVICES:
        mine = [s.id for s in sent if s.message_type in handles.get(service, {}).get(s.topic, set()) and s.for_service(service)]
        present = await inbox_rows(system, service, mine)
        unhandled += [(service, event_id) for event_id in mine if event_id not in present]
    print(f"\n[restart] {len(sent)} valid messages of {len(kinds)} kinds while PostgreSQL restarted; dead-lettered: {len(lost)}; "
          f"not handled: {len(unhandled)}; lag left: {behind}")
    for (service, event_id), reasons in list(lost.items())[:10]:
        print(f"  - {service} dead-lettered {event_id}: {reasons[0][:200]}")
    assert not lost, f"{len(lost)} valid messages were dead-lettered during a PostgreSQL restart (printed above)"
    assert not unhandled and not behind, f"valid messages not handled after the restart: {unhandled[:5]}; lag {behind}"
