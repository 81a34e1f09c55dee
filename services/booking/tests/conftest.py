"""The booking service in this process on the real broker and PostgreSQL, and a front desk that
sets up tenants, books, and reads what the service published."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from bookflow_booking import MIGRATIONS
from bookflow_booking.app import create_app
from bookflow_booking.settings import BookingSettings
from bookflow_devstack.testing import OPERATOR, Kafka, envelope_of, header, new_tenant, running_service

ADMIN = OPERATOR
PLACE = {"street": "Storgatan 1", "postcode": "111 22", "city": "Stockholm"}


@pytest.fixture(scope="module")
def settings(make_database, kafka) -> BookingSettings:
    return BookingSettings(database_url=make_database("booking", MIGRATIONS), kafka_bootstrap_servers=kafka.bootstrap_servers,
                           public_url="http://booking.test")


@pytest.fixture(scope="module")
async def service(settings):
    async with running_service(create_app, settings) as (runtime, client):
        yield runtime, client


@dataclass
class Office:
    """One tenant, with a planner's token."""

    id: str
    headers: dict
    settings: dict = field(default_factory=dict)

    def url(self, path: str = "") -> str:
        return f"/tenants/{self.id}{path}"


@dataclass
class Desk:
    client: httpx.AsyncClient
    kafka: Kafka

    async def tenant(self, **settings) -> Office:
        tenant_id = new_tenant()
        response = await self.client.put(f"/tenants/{tenant_id}", json={"name": "Pinea", **settings}, headers=ADMIN)
        assert response.status_code == 200, response.text
        body = response.json()
        return Office(tenant_id, {"Authorization": f"Bearer {body['staff_token']}"}, body)

    async def book(self, office: Office, *, starts_in: timedelta = timedelta(days=14), **kw) -> dict:
        start = datetime.now(UTC) + starts_in
        body = {
            "customer": {"name": "Åsa Öberg", "phone": "+46701234567", "language": "sv"},
            "service": "mätarbyte", "starts_at": start.isoformat(), "ends_at": (start + timedelta(hours=1)).isoformat(),
            "place": PLACE, **kw,
        }
        response = await self.client.post(office.url("/bookings"), json=body, headers=office.headers)
        assert response.status_code == 201, response.text
        return response.json()

    async def get(self, office: Office, path: str, **params):
        response = await self.client.get(office.url(path), headers=office.headers, params=params)
        assert response.status_code == 200, response.text
        return response.json()

    async def post(self, office: Office, path: str, json: dict | None = None, status: int = 200):
        response = await self.client.post(office.url(path), headers=office.headers, json=json)
        assert response.status_code == status, response.text
        return response.json()

    async def published(self, office: Office, topic: str, type_: str, *, count: int = 1, booking_id: str | None = None,
                        where=lambda payload: True) -> list[dict]:
        """Payloads of `type_` the service published for this tenant (and booking), oldest first;
        waits until there are at least `count`."""
        def match(record) -> bool:
            env = envelope_of(record)
            return (header(record, "tenant-id") == office.id and env is not None and env.type == type_
                    and (booking_id is None or env.key == f"booking:{booking_id}") and where(env.payload))

        async with self.kafka.reader(topic) as reader:
            records = await reader.wait_for(match, count=count, timeout=30, what=f"{count} {type_} on {topic}")
        return [envelope_of(r).payload for r in sorted(records, key=lambda r: (r.timestamp, r.offset))]


@pytest.fixture
def desk(service, kafka) -> Desk:
    return Desk(service[1], kafka)
