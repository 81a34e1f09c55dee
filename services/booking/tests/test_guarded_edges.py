"""Issue 10, the booking service's part, on the real broker and PostgreSQL: reply codes cannot be
guessed and a right code from a stranger needs a person; My pages links cannot be tried by the
thousand; every bad value is a clear 4xx, never a 500; logs name replies, not people; the OpenAPI
document types what the routes answer."""
import json
import logging
import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest

from bookflow_booking.app import create_app
from bookflow_contracts import ReplyReceived, topics
from bookflow_devstack.testing import OPERATOR, envelope, new_tenant, wait_until

OSLO = ZoneInfo("Europe/Oslo")


def client_at(app, address: str) -> httpx.AsyncClient:
    """A client calling from `address`, as the server sees it."""
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=(address, 50_000)), base_url="http://service")


@pytest.fixture(scope="module")
async def app(settings):
    served = create_app(settings)
    async with served.router.lifespan_context(served):
        yield served


@pytest.fixture(scope="module")
async def service(app):
    async with client_at(app, "127.0.0.1") as client:
        yield app.state.runtime, client


async def awaiting_response(desk, office, orders: int) -> list[dict]:
    """Orders with their letters out, each for its own customer's phone."""
    technician = await desk.post(office, "/technicians", {"name": "Ola Nordmann"}, status=201)
    day = datetime.now(UTC).astimezone(OSLO).replace(hour=8, minute=0, second=0, microsecond=0) + timedelta(days=20)
    made = [await desk.book(office, technician_id=technician["id"], sequence=i, starts_at=(day + timedelta(hours=i)).isoformat(),
                            ends_at=(day + timedelta(hours=i + 1)).isoformat(),
                            customer={"name": f"Kari {i}", "phone": f"+4791234{i:03d}", "language": "nb"}) for i in range(orders)]
    await desk.post(office, "/orders/lock", {"booking_ids": [o["id"] for o in made]})
    await desk.post(office, "/orders/letters", {"booking_ids": [o["id"] for o in made]})
    return [await desk.get(office, f"/bookings/{o['id']}") for o in made]


async def reply(desk, office, text: str, sender: str) -> uuid.UUID:
    reply_id = uuid.uuid4()
    await desk.kafka.publish_envelope(envelope(ReplyReceived(
        reply_id=reply_id, channel="sms", sender=sender, recipient="+4759440000", text=text,
        received_at=datetime.now(UTC), provider="sandbox"), office.id))
    return reply_id


async def reply_kept(desk, office, booking_id: str | None, reply_id: uuid.UUID) -> dict:
    async def kept():
        replies = (await desk.get(office, f"/bookings/{booking_id}"))["replies"] if booking_id else await desk.get(office, "/replies/unmatched")
        return next((r for r in replies if r["reply_id"] == str(reply_id)), None)

    return await wait_until(kept, what=f"reply {reply_id} to be kept")


async def letter_tenant(desk):
    return await desk.tenant(flow="letter", time_zone="Europe/Oslo", language="nb", reply_number="+4759440000", letter_folder="pinea")


async def test_a_sender_guessing_codes_is_stopped_after_ten_unknown_codes_and_moves_no_order(desk):
    office = await letter_tenant(desk)
    [order] = await awaiting_response(desk, office, orders=1)
    guesser = "+4799900000"
    for _ in range(10):
        await reply(desk, office, f"ZZ{uuid.uuid4().hex[:6].upper()} OK", guesser)
    await wait_until(lambda: _unmatched_from(desk, office, guesser, 10), what="ten guesses kept for the planner")

    hit = await reply(desk, office, f"{order['booking_code']} OK", guesser)
    kept = await reply_kept(desk, office, order["id"], hit)
    assert kept["outcome"].startswith("not applied") and "10 unknown codes" in kept["outcome"]
    assert (await desk.get(office, f"/bookings/{order['id']}"))["state"] == "awaiting-response"

    answer = await reply(desk, office, f"{order['booking_code']} OK", order["phone"])  # the customer is not held up
    await reply_kept(desk, office, order["id"], answer)
    assert (await desk.get(office, f"/bookings/{order['id']}"))["state"] == "ready-for-execution"


async def _unmatched_from(desk, office, sender: str, count: int) -> bool:
    return len([r for r in await desk.get(office, "/replies/unmatched") if r["sender"] == sender]) >= count


async def test_a_right_code_from_another_number_than_the_orders_needs_a_person(desk):
    office = await letter_tenant(desk)
    [order] = await awaiting_response(desk, office, orders=1)
    stranger = await reply(desk, office, f"{order['booking_code']} OK", "+4798765432")
    await reply_kept(desk, office, order["id"], stranger)
    view = await desk.get(office, f"/bookings/{order['id']}")
    assert view["state"] == "manual-follow-up"
    assert view["state_reason"] == "replied 'OK' from another number or address than the order's"
    assert view["history"][-1]["transition"] == "reply-needs-follow-up"


async def test_an_address_trying_many_bad_my_pages_links_is_told_to_wait_and_others_are_not(desk, app):
    office = await desk.tenant(flow="confirmation")
    booking = await desk.book(office)
    [notice] = await desk.published(office, topics.NOTIFICATION_REQUESTS, "notification.send", booking_id=booking["id"])
    good = "/my/" + notice["data"]["my_pages_url"].rsplit("/my/", 1)[1]
    async with client_at(app, "198.51.100.7") as prober, client_at(app, "203.0.113.20") as customer:
        for i in range(30):
            assert (await prober.get(f"/my/not-a-link-{i}")).status_code == 403
        told = await prober.get("/my/not-a-link-31")
        assert told.status_code == 429 and 0 < int(told.headers["retry-after"]) <= 601
        assert told.json()["code"] == "too-many-link-attempts"
        assert (await prober.get(good)).status_code == 429
        assert (await prober.post(f"{good}/confirm")).status_code == 429
        assert (await customer.get(good)).status_code == 200
        assert (await customer.get("/my/not-a-link")).status_code == 403
    assert (await desk.get(office, f"/bookings/{booking['id']}"))["state"] == "unconfirmed"


BAD_BOOKINGS = {
    "a NUL in the name": {"customer": {"name": "Åsa\u0000"}},
    "a lone surrogate": {"service": "\ud800"},
    "a sequence of 10**12": {"sequence": 10**12},
    "the year 0001": {"starts_at": "0001-01-01T08:00:00+00:00"},
    "the year 9999": {"starts_at": "9999-12-31T08:00:00+00:00"},
    "an estimate of a million days": {"estimate": "P999999D"},
    "a 1.5 MB street": {"place": {"street": "Storgatan " * 150_000}},
    "a control character in the city": {"place": {"city": "Bergen\u0007"}},
    "a phone that is no number": {"customer": {"name": "Åsa", "phone": "ring me"}},
}


@pytest.mark.parametrize("bad", BAD_BOOKINGS.values(), ids=BAD_BOOKINGS.keys())
async def test_a_booking_with_a_value_out_of_bounds_gets_a_clear_422(desk, bad):
    office = await desk.tenant()
    start = datetime.now(UTC) + timedelta(days=3)
    body = {"customer": {"name": "Åsa", "phone": "+46701234567"}, "service": "mätarbyte", "starts_at": start.isoformat(),
            "estimate": "PT1H"} | bad
    raw = json.dumps(body)  # \ud800 travels as a JSON escape, as a client would send it
    response = await desk.client.post(office.url("/bookings"), content=raw,
                                      headers={**office.headers, "content-type": "application/json"})
    assert response.status_code == 422, response.text[:300]
    problem = response.json()
    assert problem["code"] == "invalid-request" and problem["errors"] and problem["detail"]
    assert await desk.get(office, "/bookings") == []


BAD_TENANTS = {
    "a duration of a million days": {"reminder_before": "P999999D"},
    "a zero duration": {"sms_response_time": "PT0S"},
    "an absolute letter folder": {"letter_folder": "/etc"},
    "a letter folder out of the root": {"letter_folder": "pinea/../../etc"},
    "a time with an offset": {"appointment_reminder_at": "18:00:00+02:00"},
    "a NUL in the name": {"name": "Pinea\u0000"},
    "a reply number with text": {"reply_number": "+47 call us"},
}


@pytest.mark.parametrize("bad", BAD_TENANTS.values(), ids=BAD_TENANTS.keys())
async def test_tenant_settings_out_of_bounds_get_a_clear_422(desk, bad):
    response = await desk.client.put(f"/tenants/{new_tenant()}", json={"name": "Pinea"} | bad, headers=OPERATOR)
    assert response.status_code == 422, response.text[:300]
    assert response.json()["errors"]


async def test_query_and_path_values_out_of_bounds_get_a_4xx_never_a_500(desk):
    office = await desk.tenant(flow="letter")
    technician = await desk.post(office, "/technicians", {"name": "Ola"}, status=201)
    for path, params in (("/bookings", {"service": "a\u0000b"}), ("/bookings", {"day": "0001-01-01"}),
                         ("/bookings", {"day": "9999-12-31"}), ("/slots", {"service": "x" * 500}),
                         (f"/technicians/{technician['id']}/work-list", {"day": "0001-01-01"}),
                         ("/bookings/not-a-uuid", {}), ("/freed-slots?reason=%ED%A0%80", {})):
        response = await desk.client.get(office.url(path), params=params or None, headers=office.headers)
        assert 400 <= response.status_code < 500, f"{path} {params}: {response.status_code} {response.text[:200]}"
    for body in ({"booking_ids": None, "technician_id": technician["id"], "day": "9999-01-01"},
                 {"booking_ids": [str(uuid.uuid4())] * 1001}):
        response = await desk.client.post(office.url("/orders/lock"), json=body, headers=office.headers)
        assert response.status_code == 422, response.text[:200]
    nul_token = await desk.client.get("/my/abc%00def")
    assert nul_token.status_code == 403


async def test_the_appointment_reminder_time_is_written_and_documented_as_hh_mm(desk):
    office = await desk.tenant(appointment_reminder_at="07:30")
    assert office.settings["appointment_reminder_at"] == "07:30"
    assert (await desk.get(office, ""))["appointment_reminder_at"] == "07:30"
    schema = (await desk.client.get("/openapi.json")).json()["components"]["schemas"]["TenantOut"]["properties"]["appointment_reminder_at"]
    assert schema["type"] == "string" and "format" not in schema and schema["pattern"].startswith("^([01][0-9]|2[0-3]):")
    [published] = await desk.published(office, topics.TENANT_UPDATED, "tenant.updated")
    assert published["settings"]["appointment_reminder_at"] == "07:30:00"  # the contract's form, unchanged


async def test_replies_are_logged_by_their_id_never_by_who_sent_them(desk, caplog):
    caplog.set_level(logging.DEBUG)
    office = await letter_tenant(desk)
    [order] = await awaiting_response(desk, office, orders=1)
    guesser, customer = "+4791122334", order["phone"]
    unknown = await reply(desk, office, "QQQQ2222 hello", guesser)
    await reply_kept(desk, office, None, unknown)
    known = await reply(desk, office, f"{order['booking_code']} OK", customer)
    await reply_kept(desk, office, order["id"], known)
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert str(unknown) in logged
    assert guesser not in logged and customer not in logged and guesser.lstrip("+") not in logged


async def test_every_success_the_staff_api_documents_is_a_typed_model(desk):
    document = (await desk.client.get("/openapi.json")).json()
    untyped = []
    ours = {path: ops for path, ops in document["paths"].items() if path.startswith(("/tenants", "/my"))}
    for path, operations in ours.items():
        for method, operation in operations.items():
            for status, response in operation["responses"].items():
                schema = response.get("content", {}).get("application/json", {}).get("schema")
                if not status.startswith("2") or schema is None:
                    continue
                item = schema.get("items", schema)
                if "$ref" not in item:
                    untyped.append(f"{method.upper()} {path} {status}: {schema}")
    assert len(ours) >= 15 and untyped == []
