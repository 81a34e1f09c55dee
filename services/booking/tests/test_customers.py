"""Customers as the booking service keeps them, on the real broker and PostgreSQL: one record per
customer reused by every booking, the customer card, finding customers, every change published
as `customer.updated`, consent with when and how, and the preferred channel first (X3)."""
from datetime import UTC, datetime, timedelta

from bookflow_contracts import ReminderDue, topics
from bookflow_devstack.testing import envelope, staff_headers

START = (datetime.now(UTC) + timedelta(days=20)).replace(hour=9, minute=0, second=0, microsecond=0)


async def new_customer(desk, office, **details) -> dict:
    body = {"name": "Åsa Öberg", "phone": "070-123 45 67", "language": "sv", **details}
    response = await desk.client.post(office.url("/customers"), json=body, headers=office.headers)
    assert response.status_code == 201, response.text
    return response.json()


def customer_updates(desk, office, customer_id: str, count: int = 1):
    return desk.published(office, topics.CUSTOMER_UPDATED, "customer.updated", count=count,
                          where=lambda p: p["customer"]["customer_id"] == customer_id)


async def requests_for(desk, office, booking_id: str, template: str) -> list[dict]:
    return await desk.published(office, topics.NOTIFICATION_REQUESTS, "notification.send", booking_id=booking_id,
                                where=lambda p: p["template_key"] == template)


async def fire(desk, office, booking_id: str, kind: str) -> None:
    """Hand the booking's timer of `kind` back, as the scheduler would."""
    [timer] = await desk.published(office, topics.TIMER_REQUESTS, "timer.set", booking_id=booking_id,
                                   where=lambda p: p["payload"].get("kind") == kind)
    now = datetime.now(UTC)
    await desk.kafka.publish_envelope(envelope(ReminderDue(
        timer_key=timer["timer_key"], payload=timer["payload"], due_at=timer["due_at"], fired_at=now, lateness_ms=0), office.id))


async def test_two_bookings_for_one_customer_share_the_customer_id_and_appear_on_one_customer_card(desk):
    office = await desk.tenant()
    customer = await new_customer(desk, office, customer_number="K-1001")
    first = await desk.book(office, customer=None, customer_id=customer["id"], starts_in=timedelta(days=5))
    second = await desk.book(office, customer={"name": "Åsa Öberg", "customer_number": "K-1001"}, starts_in=timedelta(days=9))
    stranger = await desk.book(office)  # inline details without a customer number: a customer of their own

    assert first["customer_id"] == second["customer_id"] == customer["id"] != stranger["customer_id"]
    card = await desk.get(office, f"/customers/{customer['id']}")
    assert [b["id"] for b in card["bookings"]] == [first["id"], second["id"]]
    assert (card["phone"], card["customer_number"]) == ("+46701234567", "K-1001")  # stored in E.164
    created = await desk.published(office, topics.BOOKING_CREATED, "booking.created", count=3)
    assert {c["customer"]["customer_id"] for c in created if c["booking_id"] in (first["id"], second["id"])} == {customer["id"]}


async def test_staff_find_a_customer_by_name_phone_email_or_customer_number(desk):
    office = await desk.tenant()
    asa = await new_customer(desk, office, email="Asa@Example.se", customer_number="K-7")
    await new_customer(desk, office, name="Bo 100% Berg", phone="+46709999999")

    async def found(**query) -> list[str]:
        return [c["name"] for c in await desk.get(office, "/customers", **query)]

    assert await found(name="öberg") == ["Åsa Öberg"]
    assert await found(name="100%") == ["Bo 100% Berg"]  # a wildcard typed is a character searched for
    assert await found(phone="+46 70 123 45 67") == await found(phone="0701234567") == ["Åsa Öberg"]
    assert await found(email="asa@example.se") == ["Åsa Öberg"]
    assert await found(customer_number="K-7") == ["Åsa Öberg"]
    assert await found(name="Åsa", customer_number="K-8") == []
    response = await desk.client.get(office.url("/customers"), params={"phone": "12"}, headers=office.headers)
    assert response.status_code == 422
    assert asa["id"] in [c["id"] for c in await desk.get(office, "/customers")]


async def test_a_staff_edit_of_the_phone_publishes_customer_updated_naming_the_field(desk):
    office = await desk.tenant()
    customer = await new_customer(desk, office)
    response = await desk.client.patch(office.url(f"/customers/{customer['id']}"), headers=office.headers,
                                       json={"phone": "+46 70 987 65 43", "name": "Åsa Öberg"})
    assert response.status_code == 200, response.text
    assert response.json()["phone"] == "+46709876543"
    created, edited = await customer_updates(desk, office, customer["id"], count=2)
    assert (created["changed_fields"], created["actor"]) == ([], "staff:admin")  # a new customer is announced too
    assert edited["changed_fields"] == ["phone"] and edited["customer"]["phone"] == "+46709876543"
    assert edited["customer"]["customer_id"] == customer["id"] and edited["actor"] == "staff:admin"


async def test_an_edit_that_changes_nothing_publishes_nothing_and_a_taken_customer_number_is_refused(desk):
    office = await desk.tenant()
    customer = await new_customer(desk, office, customer_number="K-1")
    other = await new_customer(desk, office, name="Bo Berg", customer_number="K-2")
    same = await desk.client.patch(office.url(f"/customers/{customer['id']}"), headers=office.headers, json={"phone": "+46701234567"})
    assert same.status_code == 200
    taken = await desk.client.patch(office.url(f"/customers/{other['id']}"), headers=office.headers, json={"customer_number": "K-1"})
    assert taken.status_code == 409 and taken.json()["code"] == "customer-number-taken"
    await desk.client.patch(office.url(f"/customers/{customer['id']}"), headers=office.headers, json={"language": "en"})
    [_, changed] = await customer_updates(desk, office, customer["id"], count=2)
    assert changed["changed_fields"] == ["language"]  # the edit that changed nothing left no trace between them
    assert (await desk.get(office, f"/customers/{other['id']}"))["customer_number"] == "K-2"


async def test_consent_given_and_withdrawn_through_the_staff_api_is_published_with_when_and_how(desk):
    office = await desk.tenant()
    customer = await new_customer(desk, office)
    assert customer["marketing_consent"] is None  # never recorded
    given = await desk.client.patch(office.url(f"/customers/{customer['id']}"), headers=office.headers, json={"marketing_consent": True})
    withdrawn = await desk.client.patch(office.url(f"/customers/{customer['id']}"), headers=office.headers,
                                        json={"marketing_consent": False})
    assert given.json()["marketing_consent"] is True and given.json()["consent_source"] == "staff"
    card = withdrawn.json()
    assert (card["marketing_consent"], card["consent_source"]) == (False, "staff")
    assert datetime.fromisoformat(card["consent_changed_at"]) >= datetime.fromisoformat(given.json()["consent_changed_at"])
    _, on, off = await customer_updates(desk, office, customer["id"], count=3)
    assert (on["changed_fields"], on["marketing_consent"], on["consent_source"]) == (["marketing_consent"], True, "staff")
    assert (off["changed_fields"], off["marketing_consent"]) == (["marketing_consent"], False)
    assert off["consent_changed_at"] is not None


async def test_a_customer_with_preferred_channel_email_gets_the_reminder_request_with_email_first(desk):
    office = await desk.tenant(flow="confirmation", reminder_before="PT2S", release_after_reminder="P1D")
    customer = await new_customer(desk, office, email="asa@example.se", preferred_channel="email",
                                  address={"street": "Storgatan 1", "postcode": "111 22", "city": "Stockholm"})
    booking = await desk.book(office, customer=None, customer_id=customer["id"])
    [notice] = await requests_for(desk, office, booking["id"], "booking-notice")
    assert notice["channels"] == ["email", "letter", "sms"]  # the notice letter's fallbacks after the preferred channel
    assert notice["customer"]["preferred_channel"] == "email"
    await fire(desk, office, booking["id"], "confirm-reminder")
    [reminder] = await requests_for(desk, office, booking["id"], "confirm-reminder")
    assert reminder["channels"] == ["email", "sms"]


async def test_a_preferred_channel_the_customer_cannot_be_reached_by_or_the_tenant_does_not_use_is_passed_over(desk):
    office = await desk.tenant(channels=["sms", "email"])
    letter_lover = await new_customer(desk, office, preferred_channel="letter", email="asa@example.se")
    booking = await desk.book(office, customer=None, customer_id=letter_lover["id"])
    [notice] = await desk.published(office, topics.NOTIFICATION_REQUESTS, "notification.send", booking_id=booking["id"])
    assert notice["channels"] == ["sms", "email"]


async def test_bad_customer_details_get_a_clear_error_and_only_desk_staff_change_customers(desk):
    office = await desk.tenant()
    for bad in ({"name": "X", "phone": "+46 12"}, {"name": ""}, {"name": "X", "preferred_channel": "pigeon"},
                {"name": "X", "email": "not-an-address"}):
        response = await desk.client.post(office.url("/customers"), json=bad, headers=office.headers)
        assert response.status_code == 422, (bad, response.text)
        assert response.json()["detail"]
    technician = staff_headers(office.id, "technician")
    response = await desk.client.post(office.url("/customers"), json={"name": "X", "phone": "+46701234567"}, headers=technician)
    assert response.status_code == 403
    assert await desk.get(office, "/customers") == []
    both = await desk.client.post(office.url("/bookings"), headers=office.headers, json={
        "customer": {"name": "X", "phone": "+46701234567"}, "customer_id": "00000000-0000-0000-0000-000000000001",
        "service": "mätarbyte", "starts_at": START.isoformat(), "estimate": "PT1H"})
    assert both.status_code == 422
    unknown = await desk.client.post(office.url("/bookings"), headers=office.headers, json={
        "customer_id": "00000000-0000-0000-0000-000000000001", "service": "mätarbyte", "starts_at": START.isoformat(),
        "estimate": "PT1H"})
    assert unknown.status_code == 404


async def test_another_tenants_customer_is_not_found(desk):
    ours, theirs = await desk.tenant(), await desk.tenant()
    customer = await new_customer(desk, theirs)
    assert (await desk.client.get(ours.url(f"/customers/{customer['id']}"), headers=ours.headers)).status_code == 404
    response = await desk.client.post(ours.url("/bookings"), headers=ours.headers, json={
        "customer_id": customer["id"], "service": "mätarbyte", "starts_at": START.isoformat(), "estimate": "PT1H"})
    assert response.status_code == 404
