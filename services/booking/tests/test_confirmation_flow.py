"""Flow A, the confirmation flow (seed 000), with the booking service in this process on the real
broker and PostgreSQL. The test plays the scheduler: it reads the timers the service asks for
and hands them back as `reminder.due`."""
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from bookflow_contracts import ReminderDue, topics
from bookflow_contracts.templates import TEMPLATES
from bookflow_devstack.testing import envelope, wait_until
from bookflow_runtime.auth import sign_link

STOCKHOLM = ZoneInfo("Europe/Stockholm")


async def fire(desk, office, timer: dict) -> None:
    """Hand a timer back as the scheduler would."""
    now = datetime.now(UTC)
    await desk.kafka.publish_envelope(envelope(ReminderDue(
        timer_key=timer["timer_key"], payload=timer["payload"], due_at=timer["due_at"], fired_at=now, lateness_ms=0), office.id))


async def timer_of(desk, office, booking_id: str, kind: str) -> dict:
    [timer] = await desk.published(office, topics.TIMER_REQUESTS, "timer.set", booking_id=booking_id,
                                   where=lambda p: p["payload"].get("kind") == kind)
    return timer


async def requests_for(desk, office, booking_id: str, template: str, count: int = 1) -> list[dict]:
    return await desk.published(office, topics.NOTIFICATION_REQUESTS, "notification.send", booking_id=booking_id,
                                count=count, where=lambda p: p["template_key"] == template)


def page_path(url: str) -> str:
    return urlsplit(url).path


async def test_a_new_booking_gets_the_notice_letter_with_my_pages_link_and_a_reminder_ten_days_before(desk):
    office = await desk.tenant(flow="confirmation")
    visit = datetime(2027, 3, 30, 9, 0, tzinfo=STOCKHOLM)  # after the change to summer time
    booking = await desk.book(office, starts_at=visit.isoformat(), ends_at=(visit + timedelta(hours=1)).isoformat())
    assert booking["state"] == "unconfirmed" and booking["confirmed"] is False

    [notice] = await requests_for(desk, office, booking["id"], "booking-notice")
    assert notice["channels"][0] == "letter" and notice["customer"]["address"]["street"] == "Storgatan 1"
    assert set(notice["data"]) == set(TEMPLATES["booking-notice"].placeholders)
    assert notice["data"]["place"] == "Storgatan 1, 111 22 Stockholm"
    assert notice["data"]["my_pages_url"].startswith("http://booking.test/my/")
    reminder = await timer_of(desk, office, booking["id"], "confirm-reminder")
    assert datetime.fromisoformat(reminder["due_at"]).astimezone(STOCKHOLM) == datetime(2027, 3, 20, 9, 0, tzinfo=STOCKHOLM)
    [created] = await desk.published(office, topics.BOOKING_CREATED, "booking.created", booking_id=booking["id"])
    assert created["flow"] == "confirmation" and created["state"] == "unconfirmed"


async def test_the_customer_confirms_on_my_pages_and_the_pending_reminders_are_cancelled(desk):
    office = await desk.tenant(flow="confirmation")
    booking = await desk.book(office)
    [notice] = await requests_for(desk, office, booking["id"], "booking-notice")
    link = page_path(notice["data"]["my_pages_url"])

    page = await desk.client.get(link)
    assert page.status_code == 200 and "mätarbyte" in page.text and "Bekräfta tiden" in page.text
    confirmed = await desk.client.post(f"{link}/confirm")
    assert confirmed.status_code == 303
    page = await desk.client.get(link)
    assert "Tack, din bokning är bekräftad." in page.text and "Bekräfta tiden" not in page.text

    view = await desk.get(office, f"/bookings/{booking['id']}")
    assert view["state"] == "confirmed" and view["confirmed"] is True
    assert [(h["transition"], h["actor"]) for h in view["history"]] == [("confirm", "customer")]
    [moved] = await desk.published(office, topics.ORDER_TRANSITIONED, "order.transitioned", booking_id=booking["id"])
    assert (moved["from_state"], moved["to_state"], moved["transition"], moved["actor"]) == ("unconfirmed", "confirmed", "confirm", "customer")
    [cancel] = await desk.published(office, topics.TIMER_REQUESTS, "timer.cancel-prefix", booking_id=booking["id"])
    assert cancel["prefix"] == f"booking:{booking['id']}:"


async def test_the_customer_rebooks_into_a_free_slot_and_the_flow_starts_again_for_the_new_time(desk):
    office = await desk.tenant(flow="confirmation")
    technician = await desk.post(office, "/technicians", {"name": "Sven"}, status=201)
    later = datetime.now(UTC) + timedelta(days=21)
    other_service = await desk.post(office, "/slots", {"service": "elbesiktning", "starts_at": later.isoformat(),
                                                       "ends_at": (later + timedelta(hours=1)).isoformat()}, status=201)
    slot = await desk.post(office, "/slots", {"technician_id": technician["id"], "service": "mätarbyte", "starts_at": later.isoformat(),
                                              "ends_at": (later + timedelta(hours=1)).isoformat()}, status=201)
    old = await desk.book(office)
    [notice] = await requests_for(desk, office, old["id"], "booking-notice")
    link = page_path(notice["data"]["my_pages_url"])
    page = await desk.client.get(link)
    assert slot["id"] in page.text and other_service["id"] not in page.text

    moved = await desk.client.post(f"{link}/rebook", data={"slot_id": slot["id"]})
    assert moved.status_code == 303
    new_page = await desk.client.get(page_path(moved.headers["location"]))
    assert "Bekräfta tiden" in new_page.text

    old_view = await desk.get(office, f"/bookings/{old['id']}")
    assert old_view["state"] == "cancelled" and old_view["state_reason"] == "rebooked"
    new = await desk.get(office, f"/bookings/{old_view['rebooked_to']}")
    assert new["rebooked_from"] == old["id"] and new["state"] == "unconfirmed" and new["slot_id"] == slot["id"]
    assert new["technician_id"] == technician["id"] and new["starts_at"] == slot["starts_at"]
    [new_notice] = await requests_for(desk, office, new["id"], "booking-notice")
    assert new_notice["data"]["starts_at"] == datetime.fromisoformat(slot["starts_at"]).isoformat()
    await timer_of(desk, office, new["id"], "confirm-reminder")
    [rebooked] = await desk.published(office, topics.ORDER_TRANSITIONED, "order.transitioned", booking_id=old["id"])
    assert rebooked["reason"] == "rebooked" and rebooked["to_state"] == "cancelled"
    freed = await desk.get(office, "/freed-slots", reason="rebooked")
    assert [f["booking_id"] for f in freed] == [old["id"]]
    assert "Bokningen är flyttad." in (await desk.client.get(link)).text

    someone_elses = await desk.post(office, "/slots", {"service": "mätarbyte", "starts_at": later.isoformat(),
                                                       "ends_at": (later + timedelta(hours=1)).isoformat()}, status=201)
    await desk.book(office, slot_id=someone_elses["id"], starts_at=None, ends_at=None)
    taken = await desk.client.post(f"{page_path(moved.headers['location'])}/rebook", data={"slot_id": someone_elses["id"]})
    assert taken.status_code == 303 and taken.headers["location"].endswith("?error=slot-taken")
    assert (await desk.get(office, f"/bookings/{new['id']}"))["state"] == "unconfirmed"


async def test_an_unconfirmed_booking_gets_an_sms_reminder_and_is_released_at_the_deadline(desk):
    office = await desk.tenant(flow="confirmation", release_after_reminder="PT2S")
    booking = await desk.book(office)
    await fire(desk, office, await timer_of(desk, office, booking["id"], "confirm-reminder"))

    [reminder] = await requests_for(desk, office, booking["id"], "confirm-reminder")
    assert reminder["channels"] == ["sms"]  # no e-mail address: only the channels that reach the customer
    assert reminder["data"]["my_pages_url"].startswith("http://booking.test/my/")
    release = await timer_of(desk, office, booking["id"], "release")
    reminder_due = datetime.fromisoformat((await timer_of(desk, office, booking["id"], "confirm-reminder"))["due_at"])
    assert datetime.fromisoformat(release["due_at"]) == reminder_due + timedelta(seconds=2)
    assert datetime.fromisoformat(reminder["data"]["cancel_at"]) == datetime.fromisoformat(release["due_at"])  # the SMS says by when

    await fire(desk, office, release)
    released = await wait_until(lambda: _state_is(desk, office, booking["id"], "cancelled"), what="the release")
    assert released["state_reason"] == "not confirmed by the deadline"
    assert released["history"][-1]["transition"] == "release" and released["history"][-1]["actor"] == "system"
    [freed] = await desk.get(office, "/freed-slots", reason="released")
    assert freed["booking_id"] == booking["id"] and freed["still_free"] is True
    assert freed["slot_id"] in [s["id"] for s in await desk.get(office, "/slots", service="mätarbyte")]
    await requests_for(desk, office, booking["id"], "booking-released")


async def _state_is(desk, office, booking_id: str, state: str):
    view = await desk.get(office, f"/bookings/{booking_id}")
    return view if view["state"] == state else None


async def test_a_reminder_that_comes_after_the_booking_was_confirmed_or_cancelled_sends_nothing(desk):
    office = await desk.tenant(flow="confirmation")
    confirmed, cancelled, waiting = await desk.book(office), await desk.book(office), await desk.book(office)
    timers = {b["id"]: await timer_of(desk, office, b["id"], "confirm-reminder") for b in (confirmed, cancelled, waiting)}
    await desk.post(office, f"/bookings/{confirmed['id']}/transitions/confirm", {"reason": "said yes on the phone"})
    await desk.post(office, f"/bookings/{cancelled['id']}/transitions/cancel", {"reason": "moved away"})
    for timer in timers.values():
        await fire(desk, office, timer)

    await requests_for(desk, office, waiting["id"], "confirm-reminder")
    for stale in (confirmed, cancelled):
        view = await wait_until(lambda b=stale: _reminded(desk, office, b["id"]), what="the stale reminder to arrive")
        assert view["state"] in ("confirmed", "cancelled")
        async with desk.kafka.reader(topics.NOTIFICATION_REQUESTS) as reader:
            await reader.poll()
            sent = [e.payload["template_key"] for e in reader.envelopes() if e.key == f"booking:{stale['id']}" and e.type == "notification.send"]
        assert sent == ["booking-notice"]


async def _reminded(desk, office, booking_id: str):
    view = await desk.get(office, f"/bookings/{booking_id}")
    return view if view["reminders_received"] else None


async def test_a_transition_that_is_not_allowed_is_refused_and_changes_nothing(desk):
    office = await desk.tenant(flow="confirmation")
    booking = await desk.book(office)
    await desk.post(office, f"/bookings/{booking['id']}/transitions/cancel")
    refused = await desk.client.post(office.url(f"/bookings/{booking['id']}/transitions/confirm"), headers=office.headers)
    assert refused.status_code == 409
    assert (refused.json()["code"], refused.json()["detail"]) == (
        "transition-not-allowed", "cannot confirm a booking that is cancelled (only from: unconfirmed)")
    view = await desk.get(office, f"/bookings/{booking['id']}")
    assert view["state"] == "cancelled" and len(view["history"]) == 1
    unknown = await desk.client.post(office.url(f"/bookings/{booking['id']}/transitions/teleport"), headers=office.headers)
    assert unknown.status_code == 422


async def test_the_technicians_work_list_shows_only_confirmed_bookings_in_booking_order(desk):
    office = await desk.tenant(flow="confirmation")
    technician = await desk.post(office, "/technicians", {"name": "Sven"}, status=201)
    day = datetime(2027, 2, 10, 8, 0, tzinfo=STOCKHOLM)
    made = [await desk.book(office, technician_id=technician["id"], sequence=seq, starts_at=(day + timedelta(hours=h)).isoformat(),
                            ends_at=(day + timedelta(hours=h + 1)).isoformat()) for seq, h in ((2, 0), (1, 2), (3, 4))]
    for booking in made[:2]:
        await desk.post(office, f"/bookings/{booking['id']}/transitions/confirm")
    work = await desk.get(office, f"/technicians/{technician['id']}/work-list", day="2027-02-10")
    assert [w["id"] for w in work] == [made[1]["id"], made[0]["id"]]  # by booking order, the unconfirmed one left out
    assert await desk.get(office, f"/technicians/{technician['id']}/work-list", day="2027-02-11") == []
    unconfirmed = await desk.get(office, "/bookings", state="unconfirmed", technician_id=technician["id"])
    assert [u["id"] for u in unconfirmed] == [made[2]["id"]]


async def test_a_tampered_or_expired_link_shows_a_plain_error_page(desk, settings):
    office = await desk.tenant(flow="confirmation")
    booking = await desk.book(office)
    [notice] = await requests_for(desk, office, booking["id"], "booking-notice")
    link = page_path(notice["data"]["my_pages_url"])
    tampered = await desk.client.get(link[:-3] + "xyz")
    assert tampered.status_code == 403 and "not valid" in tampered.text
    assert (await desk.client.post(link[:-3] + "xyz/confirm")).status_code == 403
    other_purpose = sign_link(settings.link_secret, "checkin", {"t": office.id, "b": booking["id"]})
    assert (await desk.client.get(f"/my/{other_purpose}")).status_code == 403
    assert (await desk.get(office, f"/bookings/{booking['id']}"))["state"] == "unconfirmed"


async def test_a_rebooking_refused_halfway_leaves_the_booking_as_it_was(desk):
    office = await desk.tenant(flow="confirmation")
    yesterday = datetime.now(UTC) - timedelta(days=1)
    gone = await desk.post(office, "/slots", {"service": "mätarbyte", "starts_at": yesterday.isoformat(),
                                              "ends_at": (yesterday + timedelta(hours=1)).isoformat()}, status=201)
    booking = await desk.book(office)
    [notice] = await requests_for(desk, office, booking["id"], "booking-notice")
    link = page_path(notice["data"]["my_pages_url"])
    refused = await desk.client.post(f"{link}/rebook", data={"slot_id": gone["id"]})  # the old booking is cancelled first, then the new one fails
    assert refused.status_code == 303 and refused.headers["location"].endswith("?error=invalid-booking")
    view = await desk.get(office, f"/bookings/{booking['id']}")
    assert (view["state"], view["history"], view["rebooked_to"]) == ("unconfirmed", [], None)
    assert await desk.get(office, "/freed-slots") == []
