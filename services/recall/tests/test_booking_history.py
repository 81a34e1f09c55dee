"""The recall service keeps its own history of each customer's bookings from `booking.created`."""
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from bookflow_contracts import BookingCreated, CustomerSnapshot, topics
from bookflow_devstack.testing import envelope, header, new_tenant, running_service, staff_headers, wait_until
from bookflow_recall import MIGRATIONS
from bookflow_recall.app import create_app
from bookflow_recall.settings import RecallSettings

START = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def settings(make_database, kafka) -> RecallSettings:
    return RecallSettings(database_url=make_database("recall", MIGRATIONS), kafka_bootstrap_servers=kafka.bootstrap_servers)


def created(customer_id: uuid.UUID, days: int) -> BookingCreated:
    return BookingCreated(
        booking_id=uuid.uuid4(), customer=CustomerSnapshot(customer_id=customer_id, name="Mette"),
        service="dental-checkup", starts_at=START + timedelta(days=days),
        ends_at=START + timedelta(days=days, minutes=30), state="unconfirmed",
    )


async def test_each_booking_enters_the_customers_history_once_and_bad_messages_are_dead_lettered(settings, kafka):
    tenant, customer = new_tenant(), uuid.uuid4()
    first, second = created(customer, 0), created(customer, 180)
    async with running_service(create_app, settings) as (_, client):
        await kafka.publish_envelope(envelope(first, tenant))
        await kafka.publish(topics.BOOKING_CREATED, b'{"event_id": "not-a-uuid"}', key=tenant.encode())
        await kafka.publish_envelope(envelope(second, tenant))
        await kafka.publish_envelope(envelope(first, tenant))  # a different event about the same booking

        async def history():
            rows = (await client.get(f"/tenants/{tenant}/customers/{customer}/bookings", headers=staff_headers(tenant))).json()
            return rows if len(rows) == 2 else None

        rows = await wait_until(history, what="both bookings in the history")
        assert [r["booking_id"] for r in rows] == [str(first.booking_id), str(second.booking_id)]
        async with kafka.reader(topics.DEAD_LETTER) as reader:
            [dead] = await reader.wait_for(lambda r: r.key == tenant.encode())
        assert header(dead, "dead-letter-consumer") == "recall.bookings"
        assert header(dead, "dead-letter-reason").startswith("undecodable")


async def test_a_customers_history_is_shown_only_to_the_tenants_staff(settings):
    tenant, path = new_tenant(), f"/customers/{uuid.uuid4()}/bookings"
    async with running_service(create_app, settings) as (_, client):
        anonymous = await client.get(f"/tenants/{tenant}{path}")
        assert anonymous.status_code == 401 and anonymous.json()["code"] == "unauthorized"
        other = await client.get(f"/tenants/{tenant}{path}", headers=staff_headers(new_tenant(), "administrator"))
        assert other.status_code == 404
        own = await client.get(f"/tenants/{tenant}{path}", headers=staff_headers(tenant, "receptionist"))
        assert own.status_code == 200 and own.json() == []
