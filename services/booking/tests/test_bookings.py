"""Bookings and tenants over the staff API, on the real broker and PostgreSQL: creating, reading,
refusing bad requests, and keeping each tenant's data to its own staff."""
import uuid
from datetime import UTC, datetime, timedelta

from bookflow_contracts import ReminderDue, topics
from bookflow_devstack.testing import OPERATOR, envelope, wait_until
from bookflow_runtime.auth import issue_staff_token

START = (datetime.now(UTC) + timedelta(days=30)).replace(hour=8, minute=0, second=0, microsecond=0)  # bookings start in the future


async def test_a_created_booking_is_announced_and_asks_for_its_notice_and_reminder(desk, kafka):
    office = await desk.tenant()
    reminder_at = datetime.now(UTC) + timedelta(minutes=5)
    response = await desk.client.post(office.url("/bookings"), headers={**office.headers, "X-Correlation-Id": "front-desk-1"}, json={
        "customer": {"name": "Åsa Öberg", "phone": "+46701234567", "language": "sv"}, "service": "mätarbyte",
        "starts_at": START.isoformat(), "estimate": "PT1H", "reminder_at": reminder_at.isoformat()})
    assert response.status_code == 201, response.text
    booking = response.json()
    assert booking["state"] == "booked"  # a tenant without a flow: nothing to confirm
    assert datetime.fromisoformat(booking["ends_at"]) == START + timedelta(hours=1)
    [created] = await desk.published(office, topics.BOOKING_CREATED, "booking.created", booking_id=booking["id"])
    [notice] = await desk.published(office, topics.NOTIFICATION_REQUESTS, "notification.send", booking_id=booking["id"])
    [timer] = await desk.published(office, topics.TIMER_REQUESTS, "timer.set", booking_id=booking["id"])
    assert created["customer"]["name"] == "Åsa Öberg"
    assert notice["template_key"] == "booking-notice" and notice["channels"][0] == "sms"
    assert timer["due_at"].startswith(reminder_at.strftime("%Y-%m-%dT%H:%M"))
    async with kafka.reader(topics.BOOKING_CREATED) as reader:
        await reader.poll()
        [env] = [e for e in reader.envelopes() if e.key == f"booking:{booking['id']}"]
    assert env.correlation_id == "front-desk-1"


async def test_a_reminder_that_comes_due_is_recorded_on_the_booking_once(desk, kafka):
    office = await desk.tenant()
    booking = await desk.book(office)
    now = datetime.now(UTC)
    due = envelope(ReminderDue(timer_key=f"booking:{booking['id']}:reminder", payload={"booking_id": booking["id"], "kind": "reminder"},
                               due_at=now, fired_at=now, lateness_ms=3), office.id)
    await kafka.publish_envelope(due)
    await kafka.publish_envelope(due)

    async def reminders():
        return (await desk.get(office, f"/bookings/{booking['id']}"))["reminders_received"]

    [reminder] = await wait_until(reminders, what="the reminder to be recorded")
    assert reminder["lateness_ms"] == 3


async def test_bad_booking_requests_get_a_clear_error_and_change_nothing(desk):
    office = await desk.tenant()
    start = datetime.now(UTC) + timedelta(days=3)
    base = {"customer": {"name": "Åsa", "phone": "+46701234567"}, "service": "mätarbyte", "starts_at": start.isoformat()}
    ends_before = {**base, "ends_at": (start - timedelta(hours=1)).isoformat()}
    response = await desk.client.post(office.url("/bookings"), json=ends_before, headers=office.headers)
    assert response.status_code == 422
    problem = response.json()
    assert (problem["code"], problem["detail"]) == ("invalid-booking", "the booking must end after it starts")
    assert response.headers["content-type"] == "application/problem+json"
    for bad in ({**base, "starts_at": "2026-12-01T08:00:00", "estimate": "PT1H"},
                {**base, "customer": {"name": "X", "phone": "12345"}, "estimate": "PT1H"},
                {**base, "estimate": "PT1H", "ends_at": (start + timedelta(hours=1)).isoformat()},
                {**base, "estimate": "PT1H", "slot_id": str(uuid.uuid4())}):
        response = await desk.client.post(office.url("/bookings"), json=bad, headers=office.headers)
        assert response.status_code in (404, 422), response.text
    assert await desk.get(office, "/bookings") == []


async def test_staff_need_a_token_and_a_tenant_needs_the_admin_token(desk, settings):
    office = await desk.tenant()
    assert (await desk.client.get(office.url("/bookings"))).status_code == 401
    expired = issue_staff_token(settings.staff_token_private_key, office.id, "p", ttl_seconds=-10)
    assert (await desk.client.get(office.url("/bookings"), headers={"Authorization": f"Bearer {expired}"})).status_code == 401
    response = await desk.client.put(office.url(), json={"name": "X"}, headers=office.headers)
    assert response.status_code == 401
    response = await desk.client.put(office.url(), json={"name": "X", "time_zone": "Mars/Olympus"},
                                     headers=OPERATOR)
    assert response.status_code == 422 and "unknown time zone" in response.text


async def test_every_tenant_change_is_published_for_the_other_services(desk):
    office = await desk.tenant(time_zone="Europe/Oslo", language="nb", flow="letter", letter_response_time="P7D",
                               letter_folder="pinea")
    response = await desk.client.put(office.url(), json={"name": "Pinea AS", "time_zone": "Europe/Oslo", "flow": "letter",
                                                         "sms_response_time": "PT30S"},
                                     headers=OPERATOR)
    assert response.status_code == 200
    first, second = await desk.published(office, topics.TENANT_UPDATED, "tenant.updated", count=2)
    assert first["time_zone"] == "Europe/Oslo" and first["language"] == "nb"
    assert first["settings"]["letter_response_time"] == "P7D" and first["settings"]["letter_folder"] == "pinea"
    assert second["name"] == "Pinea AS" and second["settings"]["sms_response_time"] == "PT30S"
    assert (await desk.get(office, ""))["flow"] == "letter"


def _fill(path: str, values: dict) -> str:
    for name, value in values.items():
        path = path.replace("{" + name + "}", str(value))
    assert "{" not in path, f"no value for a parameter of {path}"
    return path


async def test_staff_of_one_tenant_get_404_for_another_tenants_bookings_on_every_staff_route(desk):
    ours, theirs = await desk.tenant(flow="confirmation"), await desk.tenant(flow="letter")
    technician = await desk.post(theirs, "/technicians", {"name": "Ola"}, status=201)
    booking = await desk.book(theirs, technician_id=technician["id"])
    values = {"tenant_id": theirs.id, "booking_id": booking["id"], "technician_id": technician["id"], "name": "cancel",
              "customer_id": booking["customer_id"], "service": "målerbytte"}
    paths = (await desk.client.get("/openapi.json")).json()["paths"]
    routes = [(method.upper(), path) for path, ops in paths.items() if path.startswith("/tenants/{tenant_id}")
              for method in ops if not (path == "/tenants/{tenant_id}" and method == "put")]  # PUT is the admin's
    assert len(routes) >= 18
    for method, path in routes:
        response = await desk.client.request(method, _fill(path, values), headers=ours.headers, json={},
                                             params={"day": "2026-12-01"})
        assert response.status_code == 404, f"{method} {path}: {response.status_code} {response.text}"
    after = await desk.get(theirs, f"/bookings/{booking['id']}")
    assert after["state"] == "planned" and after["history"] == []


async def test_staff_correct_a_bookings_customer_place_and_service_and_the_other_services_hear_of_the_customer(desk):
    office = await desk.tenant()
    booking = await desk.book(office)
    response = await desk.client.patch(office.url(f"/bookings/{booking['id']}"), headers=office.headers, json={
        "customer": {"name": "Åsa Öberg", "phone": "+46709876543", "language": "sv"},
        "place": {"street": "Lillgatan 2", "postcode": "111 33", "city": "Stockholm"}, "service": "elbesiktning"})
    assert response.status_code == 200, response.text
    edited = response.json()
    assert (edited["phone"], edited["place"]["street"], edited["service"]) == ("+46709876543", "Lillgatan 2", "elbesiktning")
    assert (edited["state"], edited["history"]) == (booking["state"], [])  # a correction, not a change of state
    [created, updated] = await desk.published(office, topics.CUSTOMER_UPDATED, "customer.updated", count=2)
    assert created["changed_fields"] == [] and created["customer"]["phone"] == "+46701234567"  # a new customer
    assert updated["changed_fields"] == ["phone"] and updated["customer"]["phone"] == "+46709876543"
    assert updated["customer"]["customer_id"] == booking["customer_id"] == edited["customer_id"]
    assert updated["actor"] == "staff:admin"


async def test_the_asyncapi_document_names_every_topic_the_booking_service_reads_and_writes(desk):
    document = (await desk.client.get("/asyncapi.json")).json()
    operations = document["operations"].values()
    read = {op["channel"]["$ref"] for op in operations if op["action"] == "receive"}
    written = {op["channel"]["$ref"] for op in operations if op["action"] == "send"}
    addresses = {f"#/channels/{name}": channel["address"] for name, channel in document["channels"].items()}
    assert {addresses[r] for r in read} == {t for t, by in topics.CONSUMED_BY.items() if "booking" in by}
    assert {addresses[w] for w in written} == {t for t, by in topics.PUBLISHED_BY.items() if "booking" in by}
    assert "CatalogUpdated" in str(document["components"]["messages"])
