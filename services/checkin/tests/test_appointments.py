"""The check-in service learns of appointments from `booking.created`."""
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from bookflow_checkin import MIGRATIONS
from bookflow_checkin.app import create_app
from bookflow_checkin.settings import CheckinSettings
from bookflow_contracts import BookingCreated, CustomerSnapshot
from bookflow_devstack.testing import envelope, new_tenant, running_service, staff_headers, wait_until

START = datetime(2027, 5, 12, 8, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def settings(make_database, kafka) -> CheckinSettings:
    return CheckinSettings(database_url=make_database("checkin", MIGRATIONS), kafka_bootstrap_servers=kafka.bootstrap_servers)


async def test_a_created_booking_becomes_an_appointment_of_its_tenant_only(settings, kafka):
    tenant = new_tenant()
    event = BookingCreated(
        booking_id=uuid.uuid4(), customer=CustomerSnapshot(customer_id=uuid.uuid4(), name="Jan de Vries"),
        service="APK keuring", starts_at=START, ends_at=START + timedelta(hours=1), state="unconfirmed",
    )
    async with running_service(create_app, settings) as (_, client):
        await kafka.publish_envelope(envelope(event, tenant))
        [appointment] = await wait_until(lambda: _appointments(client, tenant), what="the appointment")
        assert (appointment["customer_name"], appointment["service"]) == ("Jan de Vries", "APK keuring")
        assert await _appointments(client, new_tenant()) == []


async def test_appointments_hold_customers_names_so_only_the_tenants_staff_see_them(settings):
    tenant = new_tenant()
    async with running_service(create_app, settings) as (_, client):
        anonymous = await client.get(f"/tenants/{tenant}/appointments")
        assert anonymous.status_code == 401 and anonymous.json()["code"] == "unauthorized"
        other = await client.get(f"/tenants/{tenant}/appointments", headers=staff_headers(new_tenant(), "administrator"))
        assert other.status_code == 404
        own = await client.get(f"/tenants/{tenant}/appointments", headers=staff_headers(tenant, "technician"))
        assert own.status_code == 200 and own.json() == []


async def _appointments(client, tenant):
    response = await client.get(f"/tenants/{tenant}/appointments", headers=staff_headers(tenant))
    assert response.status_code == 200, response.text
    return response.json()
