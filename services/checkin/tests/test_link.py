"""C1: the check-in link a configurable time before the appointment (default 3 days, in the
tenant's time zone) by the customer's preferred channel; rescheduling moves it, cancelling stops
it. The test plays booking (bookings and their changes) and the scheduler (firing timers)."""
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from bookflow_contracts import ReminderDue
from bookflow_contracts.templates import TEMPLATES
from bookflow_devstack.testing import envelope, staff_headers

AMSTERDAM = ZoneInfo("Europe/Amsterdam")


async def test_the_link_timer_is_set_three_days_before_on_the_tenants_calendar(workshop):
    garage = await workshop.garage()
    visit = datetime(2027, 3, 29, 9, 0, tzinfo=AMSTERDAM)  # the day after the change to summer time
    booking = await workshop.book(garage, starts_at=visit)
    timer = await workshop.link_timer(garage, booking.booking_id)
    assert timer["timer_key"] == f"checkin:{booking.booking_id}:link"
    assert datetime.fromisoformat(timer["due_at"]).astimezone(AMSTERDAM) == datetime(2027, 3, 26, 9, 0, tzinfo=AMSTERDAM)
    assert datetime.fromisoformat(timer["payload"]["starts_at"]) == visit


async def test_when_the_timer_fires_the_link_goes_out_by_the_preferred_channel_valid_until_the_visit(workshop):
    garage = await workshop.garage()
    by_email = await workshop.book(garage, channel="email")
    by_sms = await workshop.book(garage, channel="sms")
    for booking in (by_email, by_sms):
        await workshop.fire(garage, await workshop.link_timer(garage, booking.booking_id))

    [email] = await workshop.published(garage, "notification.requests", "notification.send", booking_id=by_email.booking_id)
    [sms] = await workshop.published(garage, "notification.requests", "notification.send", booking_id=by_sms.booking_id)
    assert (email["channels"], sms["channels"]) == (["email", "sms"], ["sms", "email"])
    assert email["template_key"] == "checkin-link" and set(email["data"]) == set(TEMPLATES["checkin-link"].placeholders)
    assert email["data"]["service"] == "APK-keuring"
    assert email["regarding"] == f"checkin:{by_email.booking_id}" and email["regarding_version"] == 0
    assert datetime.fromisoformat(email["valid_until"]) == by_email.starts_at
    assert email["data"]["checkin_url"].startswith("http://checkin.test/checkin/")
    page = await workshop.client.get(email["data"]["checkin_url"].removeprefix("http://checkin.test"))
    assert page.status_code == 200 and "GX-123-B" in page.text
    view = await workshop.appointment(garage, by_email.booking_id)
    assert view["link_sent_at"] is not None


async def test_a_moved_booking_moves_its_timer_and_the_old_instant_sends_nothing(workshop):
    garage = await workshop.garage()
    booking = await workshop.book(garage)
    old_timer = await workshop.link_timer(garage, booking.booking_id)
    later = booking.starts_at + timedelta(days=7)
    await workshop.change(garage, booking, "booked", transition="reschedule", starts_at=later)
    new_timer = await workshop.link_timer(garage, booking.booking_id, count=2)
    assert new_timer["timer_key"] == old_timer["timer_key"]
    assert datetime.fromisoformat(new_timer["due_at"]) == datetime.fromisoformat(old_timer["due_at"]) + timedelta(days=7)

    await workshop.fire(garage, old_timer)  # a firing from before the move, arriving late
    await workshop.fire(garage, new_timer)
    [sent] = await workshop.published(garage, "notification.requests", "notification.send", booking_id=booking.booking_id)
    assert datetime.fromisoformat(sent["valid_until"]) == later
    assert len(await workshop.all_published(garage, "notification.requests", "notification.send", booking.booking_id)) == 1


async def test_a_link_sent_before_a_move_is_withdrawn_and_a_new_one_planned_for_the_new_time(workshop):
    garage = await workshop.garage()
    booking = await workshop.book(garage)
    await workshop.checkin_link(garage, booking)
    later = booking.starts_at + timedelta(days=2)
    await workshop.change(garage, booking, "booked", transition="reschedule", starts_at=later)
    [withdrawn] = await workshop.published(garage, "notification.requests", "notification.withdraw", booking_id=booking.booking_id)
    assert withdrawn["regarding"] == f"checkin:{booking.booking_id}" and withdrawn["before_version"] == 1
    timer = await workshop.link_timer(garage, booking.booking_id, count=2)
    assert datetime.fromisoformat(timer["payload"]["starts_at"]) == later


async def test_cancelling_completing_or_deleting_cancels_the_timer_and_withdraws_the_link(workshop):
    garage = await workshop.garage()
    for state in ("cancelled", "completed", "deleted"):
        booking = await workshop.book(garage)
        await workshop.link_timer(garage, booking.booking_id)
        await workshop.change(garage, booking, state, transition=state.removesuffix("d").removesuffix("e"))
        [cancel] = await workshop.published(garage, "timer.requests", "timer.cancel", booking_id=booking.booking_id)
        assert cancel["timer_key"] == f"checkin:{booking.booking_id}:link"
        [withdrawn] = await workshop.published(garage, "notification.requests", "notification.withdraw", booking_id=booking.booking_id)
        assert withdrawn["regarding"] == f"checkin:{booking.booking_id}"
        assert (await workshop.appointment(garage, booking.booking_id))["state"] == state


async def test_a_booking_cancelled_100_ms_before_its_link_gets_none_and_its_link_is_withdrawn(workshop):
    """The cancellation and the timer cross: either the cancellation is handled first (the
    firing finds the booking cancelled) or the firing is (the link is asked for, and withdrawn
    100 ms later while the notification service still holds it)."""
    garage = await workshop.garage()
    first, second = await workshop.book(garage), await workshop.book(garage)
    timers = {b.booking_id: await workshop.link_timer(garage, b.booking_id) for b in (first, second)}

    await workshop.change(garage, first, "cancelled", transition="cancel")  # handled before the firing
    await workshop.fire(garage, timers[first.booking_id])
    [cancelled_timer] = await workshop.published(garage, "timer.requests", "timer.cancel", booking_id=first.booking_id)
    assert cancelled_timer["timer_key"] == f"checkin:{first.booking_id}:link"
    await workshop.published(garage, "notification.requests", "notification.withdraw", booking_id=first.booking_id)

    await workshop.fire(garage, timers[second.booking_id])  # the firing is handled first
    [sent] = await workshop.published(garage, "notification.requests", "notification.send", booking_id=second.booking_id)
    await workshop.change(garage, second, "cancelled", transition="cancel")
    [withdrawn] = await workshop.published(garage, "notification.requests", "notification.withdraw", booking_id=second.booking_id)
    assert withdrawn["regarding"] == sent["regarding"] and withdrawn["before_version"] > sent["regarding_version"]

    await workshop.fire(garage, timers[first.booking_id])  # a second firing of the cancelled one
    third = await workshop.book(garage)
    await workshop.checkin_link(garage, third)  # a later send shows the stream was read past the firings
    assert await workshop.all_published(garage, "notification.requests", "notification.send", first.booking_id) == []


async def test_timers_of_other_owners_and_unknown_bookings_are_left_alone(workshop):
    garage = await workshop.garage()
    booking = await workshop.book(garage)
    timer = await workshop.link_timer(garage, booking.booking_id)
    now = datetime.now(UTC)
    for key in (f"booking:{booking.booking_id}:confirm-reminder", f"recall:{booking.booking_id}:1", "checkin:not-a-uuid:link"):
        await workshop.kafka.publish_envelope(envelope(ReminderDue(
            timer_key=key, payload=timer["payload"], due_at=now, fired_at=now, lateness_ms=0), garage.id))
    await workshop.fire(garage, timer)
    sent = await workshop.published(garage, "notification.requests", "notification.send", booking_id=booking.booking_id)
    assert len(sent) == 1


async def test_a_booking_closer_than_the_offset_gets_its_link_at_once_and_a_past_one_none(workshop):
    garage = await workshop.garage()
    soon = await workshop.book(garage, starts_in=timedelta(days=1))
    timer = await workshop.link_timer(garage, soon.booking_id)
    assert datetime.fromisoformat(timer["due_at"]) < datetime.now(UTC)  # the scheduler fires it at once
    past = await workshop.book(garage, starts_in=timedelta(hours=-2))
    later = await workshop.book(garage)
    await workshop.link_timer(garage, later.booking_id)
    assert await workshop.all_published(garage, "timer.requests", "timer.set", past.booking_id) == []


async def test_check_in_settings_are_the_administrators_and_follow_on_every_upcoming_booking(workshop):
    garage = await workshop.garage(enabled=False)
    booking = await workshop.book(garage)
    settings = (await workshop.client.get(garage.url("/checkin-settings"), headers=garage.admin)).json()
    assert settings["enabled"] is False and settings["link_before"] == "P3D" and settings["updated_by"] == "staff:boss"

    assert (await workshop.client.put(garage.url("/checkin-settings"), headers=garage.desk, json={"enabled": True})).status_code == 403
    other = staff_headers("some-other-garage", "administrator")
    assert (await workshop.client.get(garage.url("/checkin-settings"), headers=other)).status_code == 404
    assert (await workshop.client.get(garage.url("/checkin-settings"))).status_code == 401
    refused = await workshop.client.put(garage.url("/checkin-settings"), headers=garage.admin, json={"enabled": True, "link_before": "P400D"})
    assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "body.link_before"

    turned_on = await workshop.client.put(garage.url("/checkin-settings"), headers=garage.admin, json={"enabled": True, "link_before": "P2D"})
    assert turned_on.status_code == 200 and turned_on.json()["link_before"] == "P2D"
    timer = await workshop.link_timer(garage, booking.booking_id)
    assert datetime.fromisoformat(timer["due_at"]) == booking.starts_at - timedelta(days=2)

    await workshop.client.put(garage.url("/checkin-settings"), headers=garage.admin, json={"enabled": False})
    [cancel] = await workshop.published(garage, "timer.requests", "timer.cancel", booking_id=booking.booking_id)
    assert cancel["timer_key"] == timer["timer_key"]
