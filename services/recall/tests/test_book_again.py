"""Book-again reminders (flow D, seed 003) on the real broker and PostgreSQL: the tests play the
booking service, the scheduler and the notification service by publishing their events.

The salons here live on a fast calendar (a day lasts one second, set in their recall settings),
so "remind after 2 days" goes out two seconds after it is set."""
from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from urllib.parse import urlsplit

import pytest

from bookflow_contracts import topics
from bookflow_devstack.testing import staff_headers, wait_until
from bookflow_recall.handlers.book_again import ONLINE_BOOKING
from bookflow_runtime import development
from bookflow_runtime.auth import read_link

DAY = "PT1S"
SMS_COST = {"provider": "sandbox", "segments": 1, "cost": Decimal("0.80"), "currency": "SEK", "payer": "salon"}


@pytest.fixture
async def salon(open_salon):
    return await open_salon(day_length=DAY)


async def consenting_customer_with_past_booking(salon):
    customer = await salon.customer(consent=True)
    booking = await salon.booking(customer, starts_at=datetime.now(UTC) - timedelta(days=20))
    await wait_until(lambda: salon.knows(booking.booking_id, customer.customer_id), what="the booking in recall's history")
    return customer, booking


async def set_reminder(salon, booking_id: uuid.UUID, after: int = 2, unit: str = "days", status: int = 201) -> dict:
    """Set a reminder as staff would. The customer's consent travels on `customer.updated`, read
    apart from the booking, so until recall has it a reminder is refused (409, as staff would see)."""
    async def attempt():  # noqa: ANN202
        answer = await salon.client.post(f"/tenants/{salon.id}/bookings/{booking_id}/book-again", headers=salon.headers,
                                         json={"after": after, "unit": unit})
        consent_on_its_way = status == 201 and answer.status_code == 409 and answer.json().get("code") == "no-marketing-consent"
        return None if consent_on_its_way else answer
    answer = await wait_until(attempt, what="recall to have the customer's consent")
    assert answer.status_code == status, answer.text
    return answer.json()


async def timer_of(published, salon, reminder_id: str) -> datetime:
    [env] = await published.wait(topics.TIMER_REQUESTS, lambda e: e.payload.get("timer_key") == f"book-again:{reminder_id}"
                                 and e.type == "timer.set", what="the reminder's timer")
    return datetime.fromisoformat(env.payload["due_at"])


def is_send_for(reminder_id: str):
    return lambda e: e.type == "notification.send" and e.payload["idempotency_key"] == f"book-again:{reminder_id}"


async def reminder_state(salon, customer_id: uuid.UUID, reminder_id: str, state: str) -> dict | None:
    card = await salon.call("GET", f"/customers/{customer_id}/book-again")
    return next((r for r in card["reminders"] if r["id"] == reminder_id and r["state"] == state), None)


# --- D1, D2: set, one SMS with a signed link, then done ---------------------------------------


async def test_a_reminder_set_on_a_past_booking_sends_one_sms_with_a_link_to_online_booking(salon, published, settings):
    customer, booking = await consenting_customer_with_past_booking(salon)
    card = await set_reminder(salon, booking.booking_id, after=2, unit="days")
    reminder = card["active"]
    assert reminder["state"] == "scheduled" and reminder["booking_id"] == str(booking.booking_id)
    assert [e["kind"] for e in reminder["history"]] == ["set"]

    due_at = await timer_of(published, salon, reminder["id"])
    assert due_at == datetime.fromisoformat(reminder["send_at"])
    assert timedelta(seconds=1.5) < due_at - datetime.fromisoformat(reminder["set_at"]) <= timedelta(seconds=2)  # two fast days
    await salon.fire(f"book-again:{reminder['id']}", due_at)

    [request] = await published.wait(topics.NOTIFICATION_REQUESTS, is_send_for(reminder["id"]), what="the SMS request")
    sms = request.payload
    assert (sms["template_key"], sms["channels"], sms["purpose"]) == ("book-again", ["sms"], "marketing")
    assert sms["regarding"] == f"book-again:{reminder['id']}" and sms["customer"]["phone"] == "+46701234567"
    link = urlsplit(sms["data"]["booking_url"])
    assert f"{link.scheme}://{link.netloc}" == settings.booking_public_url and link.path.startswith("/book/")
    assert read_link(development.LINK_SECRET, ONLINE_BOOKING, link.path.removeprefix("/book/"), 3600) == {
        "t": salon.id, "c": str(customer.customer_id), "s": "klippning", "src": "book-again", "r": reminder["id"]}
    assert sms["data"]["service"] == "klippning"

    done = await wait_until(lambda: reminder_state(salon, customer.customer_id, reminder["id"], "sent"), what="the reminder sent")
    assert done["active"] is False and done["sent_at"] is not None
    assert (await salon.call("GET", f"/customers/{customer.customer_id}/book-again"))["active"] is None

    await salon.fire(f"book-again:{reminder['id']}", due_at)  # the same timer handed back again: nothing more
    await asyncio.sleep(1.5)
    assert len(await published.all(topics.NOTIFICATION_REQUESTS, is_send_for(reminder["id"]))) == 1


async def test_a_reminder_on_a_future_booking_is_allowed_and_a_new_one_replaces_the_active_one(salon, published):
    customer = await salon.customer(consent=True)
    future = await salon.booking(customer, starts_at=datetime.now(UTC) + timedelta(days=10))
    await wait_until(lambda: salon.knows(future.booking_id, customer.customer_id), what="the booking")
    first = (await set_reminder(salon, future.booking_id, after=3, unit="weeks"))["active"]
    second = (await set_reminder(salon, future.booking_id, after=1, unit="months"))
    assert second["active"]["id"] != first["id"] and second["active"]["unit"] == "months"
    replaced = next(r for r in second["reminders"] if r["id"] == first["id"])
    assert replaced["state"] == "cancelled" and replaced["cancel_reason"] == "replaced by a new reminder"
    await published.wait(topics.TIMER_REQUESTS, lambda e: e.type == "timer.cancel" and e.payload["timer_key"] == f"book-again:{first['id']}",
                         what="the old timer cancelled")
    # The booking and the customer card show the same (D3).
    assert await salon.call("GET", f"/bookings/{future.booking_id}/book-again") == second


async def test_a_customer_without_recorded_consent_is_refused_with_the_reason(salon):
    never = await salon.customer(consent=None)
    withdrawn = await salon.customer(consent=False)
    for customer in (never, withdrawn):
        booking = await salon.booking(customer)
        await wait_until(lambda: salon.knows(booking.booking_id, customer.customer_id), what="the booking")
        refused = await set_reminder(salon, booking.booking_id, status=409)
        assert refused["code"] == "no-marketing-consent" and "consent" in refused["detail"]
        assert refused["type"] == "urn:bookflow:problem:no-marketing-consent"
        assert (await salon.call("GET", f"/customers/{customer.customer_id}/book-again"))["reminders"] == []


async def test_a_reminder_needs_a_known_booking_a_mobile_number_and_sane_input(salon):
    assert (await set_reminder(salon, uuid.uuid4(), status=404))["code"] == "not-found"
    no_phone = await salon.customer(consent=True, phone=None)
    booking = await salon.booking(no_phone)
    await wait_until(lambda: salon.knows(booking.booking_id, no_phone.customer_id), what="the booking")
    assert (await set_reminder(salon, booking.booking_id, status=409))["code"] == "no-mobile-number"
    bad = await salon.call("POST", f"/bookings/{booking.booking_id}/book-again", json={"after": 0, "unit": "fortnights"}, status=422)
    assert {e["field"] for e in bad["errors"]} == {"body.after", "body.unit"}


async def test_staff_of_another_tenant_see_nothing(salon):
    customer, booking = await consenting_customer_with_past_booking(salon)
    await set_reminder(salon, booking.booking_id)
    other = staff_headers("another-salon")
    response = await salon.client.get(f"/tenants/{salon.id}/customers/{customer.customer_id}/book-again", headers=other)
    assert response.status_code == 404
    assert (await salon.client.get(f"/tenants/{salon.id}/customers/{customer.customer_id}/book-again")).status_code == 401


# --- D4: automatic cancellation --------------------------------------------------------------


async def stopped(salon, published, customer, reminder: dict, reason: str, *, fire: bool = True) -> dict:
    """The reminder is cancelled with `reason`, and its timer handed back anyway sends nothing."""
    cancelled = await wait_until(lambda: reminder_state(salon, customer.customer_id, reminder["id"], "cancelled"), what="the cancellation")
    assert cancelled["cancel_reason"] == reason
    if fire:
        await salon.fire(f"book-again:{reminder['id']}", datetime.fromisoformat(reminder["send_at"]))
        await asyncio.sleep(1.5)
    assert await published.all(topics.NOTIFICATION_REQUESTS, is_send_for(reminder["id"])) == []
    return cancelled


async def test_a_change_of_name_email_or_phone_cancels_the_reminder(salon, published):
    for field in ("name", "email", "phone"):
        customer, booking = await consenting_customer_with_past_booking(salon)
        reminder = (await set_reminder(salon, booking.booking_id, after=5))["active"]
        changed = {"name": {"name": "Saga Berg"}, "email": {"email": "saga@berg.se"}, "phone": {"phone": "+46709999999"}}[field]
        await salon.customer(customer_id=customer.customer_id, consent=True, changed=[field], **changed)
        await stopped(salon, published, customer, reminder, "the customer's name, e-mail or phone changed", fire=field == "phone")
        await published.wait(topics.TIMER_REQUESTS, lambda e: e.type == "timer.cancel" and e.payload["timer_key"] == f"book-again:{reminder['id']}",
                             what="the timer cancelled")


async def test_a_change_made_before_the_reminder_was_set_that_arrives_late_does_not_cancel_it(salon, published):
    customer, booking = await consenting_customer_with_past_booking(salon)
    before = datetime.now(UTC) - timedelta(seconds=30)
    reminder = (await set_reminder(salon, booking.booking_id, after=2))["active"]
    await salon.customer(customer_id=customer.customer_id, consent=True, changed=["email"], email="old@example.se", at=before)
    await salon.fire(f"book-again:{reminder['id']}", datetime.fromisoformat(reminder["send_at"]))
    await published.wait(topics.NOTIFICATION_REQUESTS, is_send_for(reminder["id"]), what="the SMS request")
    # and the late, older snapshot did not overwrite the newer contact details
    [request] = await published.all(topics.NOTIFICATION_REQUESTS, is_send_for(reminder["id"]))
    assert request.payload["customer"]["email"] == "saga@example.se"


async def test_deleting_the_booking_it_was_set_from_cancels_the_reminder(salon, published):
    customer, booking = await consenting_customer_with_past_booking(salon)
    reminder = (await set_reminder(salon, booking.booking_id, after=3))["active"]
    await salon.transition(booking, "deleted")
    await stopped(salon, published, customer, reminder, "the booking it was set from was deleted")


async def test_a_booking_made_before_the_send_cancels_the_reminder(salon, published):
    customer, booking = await consenting_customer_with_past_booking(salon)
    reminder = (await set_reminder(salon, booking.booking_id, after=3))["active"]
    new = await salon.booking(customer, service="färgning", starts_at=datetime.now(UTC) + timedelta(days=7))
    cancelled = await stopped(salon, published, customer, reminder, "the customer booked before the reminder was sent")
    assert cancelled["history"][-1]["booking_id"] == str(new.booking_id)


async def test_a_booking_made_100_ms_before_the_send_still_stops_it_even_when_its_event_comes_after_the_timer(salon, published):
    customer, booking = await consenting_customer_with_past_booking(salon)
    kept_customer, kept_booking = await consenting_customer_with_past_booking(salon)
    reminder = (await set_reminder(salon, booking.booking_id, after=2))["active"]
    kept = (await set_reminder(salon, kept_booking.booking_id, after=2))["active"]
    due_at = datetime.fromisoformat(reminder["send_at"])

    # The booking is made 100 ms before the instant, but its event reaches Kafka a second after
    # the scheduler handed the timer back (different topics: nothing orders them; the booking
    # service's relay may lag). The module's settle is 1.5 s: later than any fetch of the
    # consumer's own, so without the settle the SMS would go out first.
    await asyncio.sleep(max(0.0, (due_at - timedelta(milliseconds=100) - datetime.now(UTC)).total_seconds()))
    booked_at = datetime.now(UTC)
    await salon.fire(f"book-again:{reminder['id']}", due_at)
    await salon.fire(f"book-again:{kept['id']}", datetime.fromisoformat(kept["send_at"]))
    await asyncio.sleep(1.0)
    await salon.booking(customer, at=booked_at, starts_at=datetime.now(UTC) + timedelta(days=14))
    assert timedelta(milliseconds=50) <= due_at - booked_at <= timedelta(milliseconds=150)

    await published.wait(topics.NOTIFICATION_REQUESTS, is_send_for(kept["id"]), what="the other customer's SMS")
    await stopped(salon, published, customer, reminder, "the customer booked before the reminder was sent", fire=False)


async def test_a_booking_whose_event_comes_after_the_sms_was_asked_for_withdraws_it(salon, published):
    customer, booking = await consenting_customer_with_past_booking(salon)
    reminder = (await set_reminder(salon, booking.booking_id, after=2))["active"]
    booked_at = datetime.now(UTC)  # made while the reminder was waiting…
    await salon.fire(f"book-again:{reminder['id']}", datetime.fromisoformat(reminder["send_at"]))
    [request] = await published.wait(topics.NOTIFICATION_REQUESTS, is_send_for(reminder["id"]), what="the SMS request")
    await salon.status(request.payload, "queued")
    new = await salon.booking(customer, at=booked_at)  # …but its event arrives only now (the booking service's relay was down)

    [withdrawal] = await published.wait(topics.NOTIFICATION_REQUESTS, lambda e: e.type == "notification.withdraw"
                                        and e.payload["regarding"] == f"book-again:{reminder['id']}", what="the withdrawal")
    assert withdrawal.key == request.key  # handled after the request it withdraws
    await salon.status(request.payload, "withdrawn", reason="the customer booked before the reminder was sent")
    view = await wait_until(lambda: _delivery(salon, customer.customer_id, reminder["id"], "withdrawn"), what="the withdrawn status")
    kinds = [(e["kind"], e["booking_id"]) for e in view["history"]]
    assert ("withdrawal-asked", str(new.booking_id)) in kinds and kinds[-1][0] == "withdrawn"


async def test_withdrawn_consent_cancels_the_reminder(salon, published):
    customer, booking = await consenting_customer_with_past_booking(salon)
    reminder = (await set_reminder(salon, booking.booking_id, after=3))["active"]
    await salon.customer(customer_id=customer.customer_id, consent=False, changed=["marketing_consent"])
    await stopped(salon, published, customer, reminder, "the customer withdrew consent to marketing messages")


async def test_staff_remove_a_reminder_before_it_is_sent(salon, published):
    customer, booking = await consenting_customer_with_past_booking(salon)
    reminder = (await set_reminder(salon, booking.booking_id, after=3))["active"]
    card = await salon.call("DELETE", f"/book-again/{reminder['id']}")
    assert card["active"] is None and card["reminders"][0]["cancel_reason"] == "removed by staff"
    assert (await salon.call("DELETE", f"/book-again/{reminder['id']}", status=409))["code"] == "conflict"
    await stopped(salon, published, customer, reminder, "removed by staff")


# --- D3, D5, D6: history, the booking through the link, delivery and cost ------------------


async def _delivery(salon, customer_id: uuid.UUID, reminder_id: str, status: str) -> dict | None:
    card = await salon.call("GET", f"/customers/{customer_id}/book-again")
    return next((r for r in card["reminders"] if r["id"] == reminder_id and r["delivery_status"] == status), None)


async def test_the_history_shows_set_sent_delivered_with_the_cost_and_the_booking_made_through_the_link(salon, published):
    customer, booking = await consenting_customer_with_past_booking(salon)
    reminder = (await set_reminder(salon, booking.booking_id, after=2))["active"]
    await salon.fire(f"book-again:{reminder['id']}", datetime.fromisoformat(reminder["send_at"]))
    [request] = await published.wait(topics.NOTIFICATION_REQUESTS, is_send_for(reminder["id"]), what="the SMS request")

    await salon.status(request.payload, "sent", provider="sandbox")
    await salon.status(request.payload, "delivered", **SMS_COST)
    view = await wait_until(lambda: _delivery(salon, customer.customer_id, reminder["id"], "delivered"), what="the delivery")
    assert (Decimal(view["cost"]), view["currency"], view["payer"], view["segments"]) == (Decimal("0.80"), "SEK", "salon", 1)

    via = await salon.booking(customer, source="book-again", source_ref=reminder["id"], starts_at=datetime.now(UTC) + timedelta(days=5))
    await wait_until(lambda: _has(salon, customer.customer_id, reminder["id"], "booked-via-link"), what="the booking via the link")
    view = await _delivery(salon, customer.customer_id, reminder["id"], "delivered")
    assert [e["kind"] for e in view["history"]] == ["set", "due", "sent", "delivered", "booked-via-link"]
    assert view["bookings_via_link"] == [str(via.booking_id)]
    assert "0.80 SEK billed to salon" in view["history"][3]["detail"]
    [history_row] = [b for b in await salon.history(customer.customer_id) if b["booking_id"] == str(via.booking_id)]
    assert (history_row["source"], history_row["source_label"], history_row["source_ref"]) == (
        "book-again", "via book-again reminder", reminder["id"])


async def _has(salon, customer_id: uuid.UUID, reminder_id: str, kind: str, count: int = 1) -> bool:
    card = await salon.call("GET", f"/customers/{customer_id}/book-again")
    [view] = [r for r in card["reminders"] if r["id"] == reminder_id]
    return sum(e["kind"] == kind for e in view["history"]) >= count
