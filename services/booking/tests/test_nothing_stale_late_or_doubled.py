"""Issue 9, the booking service's part, on the real broker and PostgreSQL: a state change
withdraws what was asked for the old state; a reminder weeks late still counts; other services'
timers are left alone; a retried request makes nothing twice; messages for tenants nobody set
up are refused; a booking in the past is refused, or recorded without a word to the customer."""
import uuid
from datetime import UTC, datetime, timedelta

import httpx

from bookflow_booking.app import create_app
from bookflow_booking.settings import BookingSettings
from bookflow_contracts import ReminderDue, ReplyReceived, topics
from bookflow_devstack.testing import envelope, envelope_of, header, new_tenant, staff_headers, wait_until


async def fire(desk, office, timer: dict, *, late: timedelta = timedelta(0), key: str | None = None) -> None:
    """Hand a timer back as the scheduler would, `late` after its instant."""
    due = datetime.fromisoformat(timer["due_at"])
    await desk.kafka.publish_envelope(envelope(ReminderDue(
        timer_key=key or timer["timer_key"], payload=timer["payload"], due_at=due, fired_at=due + late,
        lateness_ms=int(late.total_seconds() * 1000)), office.id))


async def timer_of(desk, office, booking_id: str, kind: str) -> dict:
    [timer] = await desk.published(office, topics.TIMER_REQUESTS, "timer.set", booking_id=booking_id,
                                   where=lambda p: p["payload"].get("kind") == kind)
    return timer


async def view(desk, office, booking_id: str) -> dict:
    return await desk.get(office, f"/bookings/{booking_id}")


async def test_every_state_change_withdraws_what_was_asked_for_the_old_state_before_asking_anew(desk, kafka):
    office = await desk.tenant(flow="confirmation")
    booking = await desk.book(office)
    await desk.post(office, f"/bookings/{booking['id']}/transitions/confirm", {"reason": "said yes on the phone"})
    new_start = (datetime.now(UTC) + timedelta(days=20)).replace(microsecond=0)
    await desk.post(office, f"/bookings/{booking['id']}/reschedule", {"starts_at": new_start.isoformat(), "estimate": "PT1H"})

    key = f"booking:{booking['id']}"
    async with kafka.reader(topics.NOTIFICATION_REQUESTS) as reader:
        records = await reader.wait_for(lambda r: r.key == key.encode(), count=4, what="the booking's requests and withdrawals")
    asked = [envelope_of(r) for r in sorted(records, key=lambda r: r.offset)]  # one key: one partition, in order
    assert [(e.type, e.payload.get("regarding_version", e.payload.get("before_version"))) for e in asked] == [
        ("notification.send", 0),  # the notice of the first time
        ("notification.withdraw", 1),  # confirmed: whatever waits for version 0 is withdrawn
        ("notification.withdraw", 2),  # rescheduled: and whatever waits for version 1
        ("notification.send", 2),  # the notice of the new time, asked after its withdrawal
    ]
    first_notice, confirmed, _, new_notice = (e.payload for e in asked)
    assert confirmed["regarding"] == first_notice["regarding"] == key and confirmed["booking_id"] == booking["id"]
    assert "confirm" in confirmed["reason"]
    assert datetime.fromisoformat(first_notice["valid_until"]) == datetime.fromisoformat(booking["starts_at"])
    assert datetime.fromisoformat(new_notice["valid_until"]) == new_start


async def test_a_release_that_comes_thirty_days_late_still_releases_the_booking(desk):
    office = await desk.tenant(flow="confirmation", release_after_reminder="PT2S")
    booking = await desk.book(office)
    await fire(desk, office, await timer_of(desk, office, booking["id"], "confirm-reminder"))
    month = timedelta(days=30)  # 2,592,000,000 ms: more than a 32-bit column holds
    await fire(desk, office, await timer_of(desk, office, booking["id"], "release"), late=month)

    released = await wait_until(lambda: _in_state(desk, office, booking["id"], "cancelled"), what="the late release")
    assert released["state_reason"] == "not confirmed by the deadline"
    assert {r["timer_key"].rsplit(":", 1)[1]: r["lateness_ms"] for r in released["reminders_received"]}["release"] == 2_592_000_000


async def _in_state(desk, office, booking_id: str, state: str):
    found = await view(desk, office, booking_id)
    return found if found["state"] == state else None


async def test_reminders_set_by_other_services_are_left_to_them(desk, service):
    office = await desk.tenant(flow="confirmation")
    booking = await desk.book(office)
    timer = await timer_of(desk, office, booking["id"], "confirm-reminder")
    runtime = service[0]
    sent_at = datetime.now(UTC)
    await fire(desk, office, timer, key=f"checkin:{booking['id']}:confirm-reminder")  # the same payload, check-in's key
    await wait_until(lambda: (runtime.caught_up_at("reminders") or sent_at) > sent_at, what="the reminders consumer to catch up")
    untouched = await view(desk, office, booking["id"])
    assert untouched["reminders_received"] == [] and untouched["state"] == "unconfirmed"
    async with desk.kafka.reader(topics.NOTIFICATION_REQUESTS) as reader:
        await reader.poll()
        asked = [e.payload["template_key"] for e in reader.envelopes() if e.key == f"booking:{booking['id']}" and e.type == "notification.send"]
    assert asked == ["booking-notice"]


async def test_a_retried_booking_with_the_same_idempotency_key_is_made_once(desk):
    office, other = await desk.tenant(), await desk.tenant()
    start = datetime.now(UTC) + timedelta(days=5)
    body = {"customer": {"name": "Åsa Öberg", "phone": "+46701234567"}, "service": "mätarbyte",
            "starts_at": start.isoformat(), "estimate": "PT1H"}
    key = {"Idempotency-Key": str(uuid.uuid4())}

    first = await desk.client.post(office.url("/bookings"), json=body, headers={**office.headers, **key})
    again = await desk.client.post(office.url("/bookings"), json=body, headers={**office.headers, **key})
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json()["id"] == first.json()["id"]
    assert [b["id"] for b in await desk.get(office, "/bookings")] == [first.json()["id"]]

    changed = await desk.client.post(office.url("/bookings"), json={**body, "service": "elbesiktning"}, headers={**office.headers, **key})
    assert changed.status_code == 422 and changed.json()["code"] == "idempotency-key-reused"
    elsewhere = await desk.client.post(other.url("/bookings"), json=body, headers={**other.headers, **key})
    assert elsewhere.status_code == 201 and elsewhere.json()["id"] != first.json()["id"]  # keys are the tenant's own

    technician = {"name": "Sven"}
    made = [await desk.client.post(office.url("/technicians"), json=technician, headers={**office.headers, "Idempotency-Key": "tech-1"})
            for _ in range(2)]
    assert [m.status_code for m in made] == [201, 201] and made[0].json() == made[1].json()
    assert len(await desk.get(office, "/technicians")) == 1
    assert len(await desk.published(office, topics.BOOKING_CREATED, "booking.created")) == 1


async def test_a_database_outage_answers_503_with_retry_after(settings):
    """A unit-level check that the routes answer an unreachable database with 503 and
    Retry-After (the runtime's handler); stopping the real PostgreSQL under load is the
    system tests' fault campaign."""
    unreachable = BookingSettings(**settings.model_dump() | {"database_url": "postgresql+asyncpg://postgres@127.0.0.1:9/none"})
    app = create_app(unreachable)  # routes only: nothing connects until a request does
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://service") as client:
        response = await client.get("/tenants/acme/bookings", headers=staff_headers("acme"))
        await app.state.runtime.engine.dispose()
    assert response.status_code == 503 and response.headers["retry-after"]
    assert response.json()["code"] == "database-unavailable"


async def test_reminders_and_replies_for_a_tenant_nobody_set_up_are_dead_lettered(desk, kafka):
    ghost = new_tenant()
    now = datetime.now(UTC)
    due = envelope(ReminderDue(timer_key=f"booking:{uuid.uuid4()}:release", payload={"kind": "release"},
                               due_at=now, fired_at=now, lateness_ms=0), ghost)
    answer = envelope(ReplyReceived(reply_id=uuid.uuid4(), channel="sms", sender="+4791234000", recipient="+4759440000",
                                    text="ABCD2345 OK", received_at=now, provider="sandbox"), ghost)
    for env in (due, answer):
        await kafka.publish_envelope(env)
    ids = {str(due.event_id), str(answer.event_id)}
    async with kafka.reader(topics.DEAD_LETTER) as reader:
        dead = await reader.wait_for(lambda r: header(r, "event-id") in ids, count=2, what="both dead letters")
    assert {header(r, "dead-letter-reason").split(":")[0] for r in dead} == {"unknown-tenant"}


async def test_staff_of_a_tenant_that_was_never_set_up_find_nothing(desk):
    ghost = new_tenant()
    headers = staff_headers(ghost)
    start = datetime.now(UTC) + timedelta(days=3)
    booking = {"customer": {"name": "Åsa", "phone": "+46701234567"}, "service": "mätarbyte", "starts_at": start.isoformat(),
               "estimate": "PT1H"}
    for method, path, body in (("GET", "", None), ("GET", "/bookings", None), ("POST", "/bookings", booking),
                               ("POST", "/technicians", {"name": "Sven"}), ("GET", "/slots", None)):
        response = await desk.client.request(method, f"/tenants/{ghost}{path}", headers=headers, json=body)
        assert response.status_code == 404, f"{method} {path}: {response.text}"


async def test_a_booking_in_the_past_is_refused_unless_staff_record_a_visit_that_took_place(desk):
    office = await desk.tenant(flow="confirmation")
    eight_months_ago = datetime.now(UTC) - timedelta(days=240)
    past = {"starts_at": eight_months_ago.isoformat(), "ends_at": None, "estimate": "PT1H"}

    refused = await desk.client.post(office.url("/bookings"), headers=office.headers, json={
        "customer": {"name": "Åsa Öberg", "phone": "+46701234567"}, "service": "mätarbyte", "place": None, **past})
    assert refused.status_code == 422
    assert refused.json()["code"] == "invalid-booking" and "in the past" in refused.json()["detail"] and "record_only" in refused.json()["detail"]
    assert await desk.get(office, "/bookings") == []

    recorded = await desk.book(office, record_only=True, **past)
    assert recorded["state"] == "completed" and recorded["confirmed"] is False
    [created] = await desk.published(office, topics.BOOKING_CREATED, "booking.created", booking_id=recorded["id"])
    assert created["state"] == "completed"
    future = await desk.book(office, record_only=False)  # a later booking: its notice and timer come after anything of the first
    await desk.published(office, topics.NOTIFICATION_REQUESTS, "notification.send", booking_id=future["id"])
    await desk.published(office, topics.TIMER_REQUESTS, "timer.set", booking_id=future["id"])
    async with desk.kafka.reader(topics.NOTIFICATION_REQUESTS, topics.TIMER_REQUESTS) as reader:
        await reader.poll()
        about_the_visit = [e.type for e in reader.envelopes() if e.key == f"booking:{recorded['id']}"]
    assert about_the_visit == []

    in_the_future = await desk.client.post(office.url("/bookings"), headers=office.headers, json={
        "customer": {"name": "Åsa", "phone": "+46701234567"}, "service": "mätarbyte", "record_only": True,
        "starts_at": (datetime.now(UTC) + timedelta(days=2)).isoformat(), "estimate": "PT1H"})
    assert in_the_future.status_code == 422 and "took place" in in_the_future.json()["detail"]
    moved_back = await desk.client.post(office.url(f"/bookings/{future['id']}/reschedule"), headers=office.headers,
                                        json={"starts_at": eight_months_ago.isoformat(), "estimate": "PT1H"})
    assert moved_back.status_code == 422 and "in the past" in moved_back.json()["detail"]
