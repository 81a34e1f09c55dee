"""The booking service on the real broker and PostgreSQL."""
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from bookflow_booking import MIGRATIONS
from bookflow_booking.app import create_app
from bookflow_booking.settings import BookingSettings
from bookflow_contracts import ReminderDue, topics
from bookflow_devstack.testing import envelope, envelope_of, header, new_tenant, running_service, wait_until

START = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def settings(make_database, kafka) -> BookingSettings:
    return BookingSettings(database_url=make_database("booking", MIGRATIONS), kafka_bootstrap_servers=kafka.bootstrap_servers)


def booking_request(**kw) -> dict:
    return {
        "customer": {"name": "Åsa Öberg", "phone": "+46701234567", "language": "sv"},
        "service": "mätarbyte",
        "starts_at": START.isoformat(),
        "ends_at": (START + timedelta(hours=1)).isoformat(),
        "place": {"street": "Storgatan 1", "postcode": "111 22", "city": "Stockholm"},
        **kw,
    }


async def test_a_created_booking_is_announced_and_asks_for_its_notice_and_reminder(settings, kafka):
    tenant = new_tenant()
    reminder_at = datetime.now(UTC) + timedelta(minutes=5)
    async with running_service(create_app, settings) as (_, client):
        response = await client.post(f"/tenants/{tenant}/bookings", json=booking_request(reminder_at=reminder_at.isoformat()),
                                     headers={"X-Correlation-Id": "front-desk-1"})
        assert response.status_code == 201, response.text
        booking = response.json()
        assert booking["state"] == "unconfirmed"
        async with kafka.reader(topics.BOOKING_CREATED, topics.NOTIFICATION_REQUESTS, topics.TIMER_REQUESTS) as reader:
            records = await reader.wait_for(lambda r: header(r, "tenant-id") == tenant, count=3)
        by_type = {envelope_of(r).type: envelope_of(r) for r in records}
        assert set(by_type) == {"booking.created", "notification.send", "timer.set"}
        assert {e.correlation_id for e in by_type.values()} == {"front-desk-1"}
        assert {e.key for e in by_type.values()} == {f"booking:{booking['id']}"}
        assert by_type["booking.created"].payload["customer"]["name"] == "Åsa Öberg"
        assert by_type["timer.set"].payload["due_at"].startswith(reminder_at.strftime("%Y-%m-%dT%H:%M"))


async def test_a_reminder_that_comes_due_is_recorded_on_the_booking_once(settings, kafka):
    tenant = new_tenant()
    async with running_service(create_app, settings) as (_, client):
        booking = (await client.post(f"/tenants/{tenant}/bookings", json=booking_request())).json()
        now = datetime.now(UTC)
        due = envelope(ReminderDue(timer_key=f"booking:{booking['id']}:reminder", payload={"booking_id": booking["id"]},
                                   due_at=now, fired_at=now, lateness_ms=3), tenant)
        await kafka.publish_envelope(due)
        await kafka.publish_envelope(due)

        async def reminders():
            return (await client.get(f"/tenants/{tenant}/bookings/{booking['id']}")).json()["reminders_received"]

        [reminder] = await wait_until(reminders, what="the reminder to be recorded")
        assert reminder["lateness_ms"] == 3


async def test_bad_booking_requests_get_a_clear_error_and_change_nothing(settings, kafka):
    tenant = new_tenant()
    async with running_service(create_app, settings) as (_, client):
        ends_before = booking_request(ends_at=(START - timedelta(hours=1)).isoformat())
        response = await client.post(f"/tenants/{tenant}/bookings", json=ends_before)
        assert response.status_code == 422
        assert response.json() == {"error": "invalid-booking", "detail": "the booking must end after it starts"}
        naive = booking_request(starts_at="2026-12-01T08:00:00")
        assert (await client.post(f"/tenants/{tenant}/bookings", json=naive)).status_code == 422
        bad_phone = booking_request(customer={"name": "X", "phone": "0701234567"})
        assert (await client.post(f"/tenants/{tenant}/bookings", json=bad_phone)).status_code == 422


async def test_a_booking_of_one_tenant_is_not_found_under_another(settings, kafka):
    async with running_service(create_app, settings) as (_, client):
        booking = (await client.post(f"/tenants/{new_tenant()}/bookings", json=booking_request())).json()
        response = await client.get(f"/tenants/{new_tenant()}/bookings/{booking['id']}")
        assert response.status_code == 404
        assert (await client.get(f"/tenants/x/bookings/{uuid.uuid4()}")).status_code == 404
