"""The recall service in this process on the real broker and PostgreSQL, and a salon around it:
the tests play the booking service, the scheduler and the notification service by publishing
their events, and read what recall publishes from the topics."""
from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from bookflow_contracts import (
    BookingCreated, BookingSnapshot, CustomerSnapshot, CustomerUpdated, Envelope, NotificationStatusChanged, OrderTransitioned,
    ReminderDue, TenantUpdated,
)
from bookflow_devstack.testing import Kafka, envelope_of, new_tenant, running_service, staff_headers, wait_until
from bookflow_recall import MIGRATIONS
from bookflow_recall.app import create_app
from bookflow_recall.settings import RecallSettings


class Clock:
    """Real time, moved by `shift` (recall counts days; tests move days in an instant)."""

    def __init__(self) -> None:
        self.shift = timedelta(0)

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.shift


@pytest.fixture(scope="module")
def database_url(make_database) -> str:
    return make_database("recall", MIGRATIONS)


@pytest.fixture(scope="module")
def settings(database_url, kafka) -> RecallSettings:
    return RecallSettings(database_url=database_url, kafka_bootstrap_servers=kafka.bootstrap_servers,
                          book_again_settle_seconds=1.5, book_again_poll_seconds=0.1, evaluation_rest_seconds=1.0)


@pytest.fixture(scope="module")
def clock() -> Clock:
    return Clock()


@pytest.fixture(scope="module")
async def service(settings, clock) -> AsyncIterator[tuple[Any, httpx.AsyncClient]]:
    """One recall service for the module (its consumers join their groups once)."""
    async with running_service(lambda s: create_app(s, clock), settings) as running:
        yield running


class Salon:
    """A tenant seen from outside the recall service: its staff call recall's API; the test
    publishes what booking, the scheduler and notification would."""

    def __init__(self, kafka: Kafka, client: httpx.AsyncClient, tenant_id: str, zone: str) -> None:
        self.kafka, self.client, self.id, self.zone = kafka, client, tenant_id, zone
        self.headers = staff_headers(tenant_id, "administrator")
        self.versions: dict[uuid.UUID, int] = {}

    # --- booking's events ---

    async def publish(self, message, *, at: datetime | None = None, event_id: uuid.UUID | None = None) -> Envelope:
        env = Envelope.wrap(message, tenant_id=self.id, occurred_at=at or datetime.now(UTC), event_id=event_id)
        await self.kafka.publish_envelope(env)
        return env

    async def customer(self, *, consent: bool | None = True, name: str = "Saga Ögren", phone: str | None = "+46701234567",
                       changed: list[str] | None = None, customer_id: uuid.UUID | None = None, at: datetime | None = None,
                       number: str | None = None, email: str | None = "saga@example.se") -> CustomerSnapshot:
        snapshot = CustomerSnapshot(customer_id=customer_id or uuid.uuid4(), name=name, phone=phone, email=email, language="sv",
                                    customer_number=number)
        await self.publish(CustomerUpdated(customer=snapshot, marketing_consent=consent, consent_source="staff",
                                           consent_changed_at=at or datetime.now(UTC), changed_fields=changed or []), at=at)
        return snapshot

    async def booking(self, customer: CustomerSnapshot, *, service: str = "klippning", starts_at: datetime | None = None,
                      source: str = "staff", source_ref: str | None = None, state: str = "booked", at: datetime | None = None,
                      booking_id: uuid.UUID | None = None) -> BookingCreated:
        start = starts_at or datetime.now(UTC) - timedelta(days=3)
        event = BookingCreated(booking_id=booking_id or uuid.uuid4(), customer=customer, service=service, starts_at=start,
                               ends_at=start + timedelta(hours=1), state=state, source=source, source_ref=source_ref)
        self.versions[event.booking_id] = 0
        await self.publish(event, at=at)
        return event

    async def transition(self, booking: BookingCreated, to_state: str, *, version: int | None = None,
                         starts_at: datetime | None = None, at: datetime | None = None) -> OrderTransitioned:
        version = version if version is not None else self.versions.get(booking.booking_id, 0) + 1
        self.versions[booking.booking_id] = max(version, self.versions.get(booking.booking_id, 0))
        start = starts_at or booking.starts_at
        snapshot = BookingSnapshot(booking_id=booking.booking_id, customer_id=booking.customer.customer_id, service=booking.service,
                                   starts_at=start, ends_at=start + timedelta(hours=1), state=to_state, version=version,
                                   source=booking.source)
        event = OrderTransitioned(booking_id=booking.booking_id, from_state=booking.state, to_state=to_state, transition=to_state,
                                  actor="staff:front-desk", booking=snapshot)
        await self.publish(event, at=at)
        return event

    # --- the scheduler and notification ---

    async def fire(self, key: str, due_at: datetime) -> None:
        """The scheduler hands a timer back at its instant (waits for it)."""
        await asyncio.sleep(max(0.0, (due_at - datetime.now(UTC)).total_seconds()))
        now = datetime.now(UTC)
        await self.publish(ReminderDue(timer_key=key, due_at=due_at, fired_at=now,
                                       lateness_ms=max(0, int((now - due_at).total_seconds() * 1000))))

    async def status(self, request: dict, status: str, *, at: datetime | None = None, **more) -> None:
        """The notification service reports a status of a message recall asked for."""
        await self.publish(NotificationStatusChanged(
            message_id=uuid.uuid5(uuid.NAMESPACE_URL, request["idempotency_key"]), idempotency_key=request["idempotency_key"],
            customer_id=request["customer"]["customer_id"], booking_id=request.get("booking_id"), channel=request["channels"][0],
            status=status, at=at or datetime.now(UTC), template_key=request["template_key"], regarding=request.get("regarding"),
            **more))

    # --- recall's API ---

    async def call(self, method: str, path: str, *, status: int | None = 200, **kw) -> Any:
        response = await self.client.request(method, f"/tenants/{self.id}{path}", headers=self.headers, **kw)
        if status is not None:
            assert response.status_code == status, response.text
        return response.json()

    async def history(self, customer_id: uuid.UUID) -> list[dict]:
        return await self.call("GET", f"/customers/{customer_id}/bookings")

    async def knows(self, booking_id: uuid.UUID, customer_id: uuid.UUID, state: str | None = None) -> bool:
        return any(b["booking_id"] == str(booking_id) and state in (None, b["state"]) for b in await self.history(customer_id))


async def _open_salon(kafka: Kafka, client: httpx.AsyncClient, *, zone: str = "Europe/Stockholm",
                      day_length: str | None = None) -> Salon:
    """A tenant recall knows (its `tenant.updated` handled), on a seconds scale if asked."""
    salon = Salon(kafka, client, new_tenant(), zone)
    await salon.publish(TenantUpdated(name="Salong Saga", time_zone=zone, language="sv", tenant_id=salon.id))
    if day_length:
        await salon.call("PUT", "/recall-settings", json={"day_length": day_length})

    async def known() -> bool:
        return (await salon.call("GET", "/recall-settings"))["time_zone"] == zone

    await wait_until(known, what="the tenant to reach recall")
    return salon


class Topics:
    """What recall published, read from the topics."""

    def __init__(self, kafka: Kafka) -> None:
        self.kafka = kafka

    async def wait(self, topic: str, match: Callable[[Envelope], bool], *, count: int = 1, timeout: float = 20,
                   what: str = "messages") -> list[Envelope]:
        async with self.kafka.reader(topic) as reader:
            records = await reader.wait_for(lambda r: (e := envelope_of(r)) is not None and match(e), count=count, timeout=timeout,
                                            what=what)
        return [envelope_of(r) for r in records]

    async def all(self, topic: str, match: Callable[[Envelope], bool]) -> list[Envelope]:
        async with self.kafka.reader(topic) as reader:
            with contextlib.suppress(AssertionError):
                await reader.wait_for(lambda r: False, timeout=0.5)
            return [e for r in reader.records if (e := envelope_of(r)) is not None and match(e)]


@pytest.fixture(scope="module")
def published(kafka) -> Topics:
    return Topics(kafka)


@pytest.fixture(scope="module")
def open_salon(kafka, service) -> Callable[..., Any]:
    """`await open_salon(zone=…, day_length=…)`: a new tenant recall knows."""
    return lambda **kw: _open_salon(kafka, service[1], **kw)


