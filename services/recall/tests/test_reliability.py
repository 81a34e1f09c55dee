"""The recall service as processes on the real broker and PostgreSQL: two replicas evaluate each
recall step once, and a process killed between deciding and publishing sends nothing twice."""
from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from bookflow_contracts import BookingCreated, CustomerSnapshot, CustomerUpdated, ReminderDue, TenantUpdated, topics
from bookflow_devstack.broker_per_test import kafka, kafka_server  # noqa: F401 (fixtures: a broker per test)
from bookflow_devstack.infra import free_port
from bookflow_devstack.processes import ServiceProcess, service_env
from bookflow_devstack.testing import envelope, envelope_of, new_tenant, staff_headers, wait_until
from bookflow_recall import MIGRATIONS

RECALLS = 300


@pytest.fixture
def recall_db(make_database) -> str:
    return make_database("recall", MIGRATIONS)


def recall(kafka_server, database_url: str, tmp_path, name: str, **env: str) -> ServiceProcess:
    port = free_port()
    extra = {"BOOKFLOW_RECALL_EVALUATION_BATCH_SIZE": "25", "BOOKFLOW_RECALL_BOOK_AGAIN_SETTLE_SECONDS": "0.5", **env}
    return ServiceProcess("recall", port, service_env("recall", kafka_server, database_url, port, extra), tmp_path / f"{name}.log")


class Clinic:
    def __init__(self, kafka, tenant: str) -> None:
        self.kafka, self.id = kafka, tenant
        self.headers = staff_headers(tenant, "administrator")

    async def call(self, service: ServiceProcess, method: str, path: str, status: int = 200, **kw):
        async with httpx.AsyncClient(timeout=60) as client:
            response = await client.request(method, f"{service.url}/tenants/{self.id}{path}", headers=self.headers, **kw)
        assert response.status_code == status, response.text
        return response.json()

    async def open(self, service: ServiceProcess, *, day_length: str = "P1D") -> None:
        await self.kafka.publish_envelope(envelope(TenantUpdated(name="Tandlæge", time_zone="UTC", language="da", tenant_id=self.id), self.id))

        async def known():
            return (await self.call(service, "GET", "/recall-settings"))["time_zone"] == "UTC"

        await wait_until(known, timeout=30, what="the tenant in recall")
        await self.call(service, "PUT", "/recall-settings", json={"enabled": True, "day_length": day_length})

    async def recall_everyone(self, service: ServiceProcess, count: int) -> list[str]:
        tpl = await self.call(service, "POST", "/recall-templates", status=201, json={
            "name": "Kontrol", "service": "kontrol", "frequency": 6, "times": "once",
            "steps": [{"after_days": 0, "actions": [{"kind": "send", "channel": "sms"}]}]})
        today = datetime.now(UTC).date().isoformat()
        recall_ids: list[str] = []
        async with httpx.AsyncClient(timeout=60) as client:
            async def one() -> None:
                response = await client.post(f"{service.url}/tenants/{self.id}/customers/{uuid.uuid4()}/recalls", headers=self.headers,
                                             json={"template_id": tpl["id"], "recall_date": today})
                assert response.status_code == 201, response.text
                recall_ids.append(response.json()["recalls"][0]["id"])

            for _ in range(0, count, 10):
                await asyncio.gather(*(one() for _ in range(10)))
        return recall_ids

    async def requests(self) -> list:
        async with self.kafka.reader(topics.NOTIFICATION_REQUESTS) as reader:
            await reader.poll()
            await asyncio.sleep(0.3)
            await reader.poll()
            return [e for r in reader.records if (e := envelope_of(r)) and e.tenant_id == self.id and e.type == "notification.send"]

    async def wait_requests(self, count: int, timeout: float = 90) -> list:
        async def enough():
            found = await self.requests()
            return found if len({e.payload["idempotency_key"] for e in found}) >= count else None

        return await wait_until(enough, timeout=timeout, interval=0.5, what=f"{count} recall messages")


async def test_two_replicas_evaluate_each_step_once(kafka_server, kafka, recall_db, tmp_path):
    replicas = [recall(kafka_server, recall_db, tmp_path, f"replica-{i}") for i in range(2)]
    clinic = Clinic(kafka, new_tenant())
    try:
        for r in replicas:
            r.start()
        for r in replicas:
            r.wait_ready()
        await clinic.open(replicas[0])
        await clinic.call(replicas[0], "PUT", "/recall-settings", json={"enabled": False})  # load first, then let both loose
        recall_ids = await clinic.recall_everyone(replicas[0], RECALLS)
        await clinic.call(replicas[1], "PUT", "/recall-settings", json={"enabled": True})
        await asyncio.gather(*(clinic.call(r, "POST", "/recall/evaluate") for r in replicas for _ in range(2)))  # and both loops
        await clinic.wait_requests(RECALLS)
        await asyncio.sleep(2)  # anything decided twice would be published by now
        found = await clinic.requests()
        keys = [e.payload["idempotency_key"] for e in found]
        assert len(keys) == len(set(keys)) == RECALLS
        assert {e.payload["regarding"] for e in found} == {f"recall:{i}" for i in recall_ids}
        assert all(r.alive() for r in replicas)
    finally:
        for r in replicas:
            r.stop()


@pytest.mark.parametrize("fault", ["recall.evaluation-before-commit", "relay.after-publish"])
async def test_a_replica_killed_between_deciding_and_publishing_sends_each_recall_once(kafka_server, kafka, recall_db, tmp_path, fault):
    service = recall(kafka_server, recall_db, tmp_path, "crashing")
    clinic = Clinic(kafka, new_tenant())
    service.start()
    try:
        service.wait_ready()
        await clinic.open(service)
        await clinic.call(service, "PUT", "/recall-settings", json={"enabled": False})
        recall_ids = await clinic.recall_everyone(service, 100)
        service.stop()
        service.start(extra_env={"BOOKFLOW_FAULTS": fault})
        service.wait_ready()
        await clinic.call(service, "PUT", "/recall-settings", json={"enabled": True})  # wakes the evaluation: it dies
        assert service.wait_exit(timeout=60) == 70
        before = await clinic.requests()
        if fault == "recall.evaluation-before-commit":
            assert before == []  # decided, never committed: nothing went out
        else:
            assert before  # committed and published, not marked published: the relay publishes them again
        service.start()
        service.wait_ready()
        await clinic.wait_requests(100)
        await asyncio.sleep(2)
        found = await clinic.requests()
        by_key: dict[str, set] = {}
        for e in found:
            by_key.setdefault(e.payload["idempotency_key"], set()).add(e.event_id)
        assert len(by_key) == 100 and {e.payload["regarding"] for e in found} == {f"recall:{i}" for i in recall_ids}
        # Published twice after a crash between publishing and marking: the same event, which
        # every consumer's inbox and the notification service's idempotency key absorb.
        assert all(len(ids) == 1 for ids in by_key.values())
    finally:
        service.stop()


async def test_a_book_again_sender_killed_before_its_commit_sends_the_sms_once(kafka_server, kafka, recall_db, tmp_path):
    service = recall(kafka_server, recall_db, tmp_path, "sender")
    clinic = Clinic(kafka, new_tenant())
    service.start(extra_env={"BOOKFLOW_FAULTS": "recall.book-again-before-commit"})
    try:
        service.wait_ready()
        await clinic.open(service, day_length="PT1S")
        customer = CustomerSnapshot(customer_id=uuid.uuid4(), name="Saga", phone="+46701234567")
        await kafka.publish_envelope(envelope(CustomerUpdated(customer=customer, marketing_consent=True), clinic.id))
        start = datetime.now(UTC) - timedelta(days=2)
        booking = BookingCreated(booking_id=uuid.uuid4(), customer=customer, service="klippning", starts_at=start,
                                 ends_at=start + timedelta(hours=1), state="completed")
        await kafka.publish_envelope(envelope(booking, clinic.id))

        async def reminder():
            async with httpx.AsyncClient(timeout=10) as client:
                response = await client.post(f"{service.url}/tenants/{clinic.id}/bookings/{booking.booking_id}/book-again",
                                             headers=clinic.headers, json={"after": 1, "unit": "days"})
            return response.json()["active"] if response.status_code == 201 else None

        active = await wait_until(reminder, timeout=30, what="the reminder set")
        due_at = datetime.fromisoformat(active["send_at"])
        await asyncio.sleep(max(0.0, (due_at - datetime.now(UTC)).total_seconds()))
        await kafka.publish_envelope(envelope(ReminderDue(timer_key=f"book-again:{active['id']}", due_at=due_at,
                                                          fired_at=datetime.now(UTC), lateness_ms=0), clinic.id))
        assert service.wait_exit(timeout=60) == 70
        assert await clinic.requests() == []
        service.start()
        service.wait_ready()
        [sent] = await clinic.wait_requests(1)
        await asyncio.sleep(3)
        assert [e.payload["idempotency_key"] for e in await clinic.requests()] == [f"book-again:{active['id']}"]
        assert sent.payload["template_key"] == "book-again"
    finally:
        service.stop()
