"""Check-in's projection of bookings takes events in whatever order they arrive: a change before
the booking's creation, a stale change after a newer one, the same event twice."""
import uuid
from datetime import UTC, datetime, timedelta

from bookflow_contracts import OrderTransitioned
from bookflow_devstack.testing import envelope, wait_until


async def test_a_change_that_arrives_before_the_booking_is_kept_and_the_creation_fills_in_the_rest(workshop):
    garage = await workshop.garage()
    created = workshop.booking()
    moved_to = created.starts_at + timedelta(days=3)
    await workshop.change(garage, created, "confirmed", transition="reschedule", starts_at=moved_to, version=2, wait=False)

    async def known():
        response = await workshop.client.get(garage.url(f"/appointments/{created.booking_id}"), headers=garage.desk)
        return response.json() if response.status_code == 200 else None

    early = await wait_until(known, what="the change kept before the creation")
    assert early["customer"] is None and datetime.fromisoformat(early["starts_at"]) == moved_to
    assert await workshop.all_published(garage, "timer.requests", "timer.set", created.booking_id) == []  # no customer yet

    await workshop.kafka.publish_envelope(envelope(created, garage.id))
    view = await workshop.appointment(garage, created.booking_id)
    assert (view["state"], datetime.fromisoformat(view["starts_at"])) == ("confirmed", moved_to)
    assert view["customer"]["name"] == "Jan de Vries" and view["subject"]["details"]["registration"] == "GX-123-B"
    assert [line["description"] for line in view["work_lines"]] == ["APK-keuring", "Olie verversen"]
    timer = await workshop.link_timer(garage, created.booking_id)
    assert datetime.fromisoformat(timer["payload"]["starts_at"]) == moved_to


async def test_a_stale_change_after_a_newer_one_changes_nothing(workshop):
    garage = await workshop.garage()
    booking = await workshop.book(garage)
    await workshop.change(garage, booking, "cancelled", transition="cancel", version=3)
    await workshop.change(garage, booking, "confirmed", transition="confirm", version=2, wait=False)
    await workshop.change(garage, booking, "cancelled", transition="cancel", version=3, wait=False)  # the same again
    later = await workshop.book(garage)  # a later booking shows the stale ones were read
    await workshop.change(garage, later, "confirmed", transition="confirm", version=1)
    assert (await workshop.appointment(garage, booking.booking_id))["state"] == "cancelled"
    cancels = await workshop.all_published(garage, "timer.requests", "timer.cancel", booking.booking_id)
    assert len(cancels) == 1


async def test_a_creation_that_arrives_twice_sets_one_timer(workshop):
    garage = await workshop.garage()
    created = workshop.booking()
    once = envelope(created, garage.id)
    await workshop.kafka.publish_envelope(once)
    await workshop.kafka.publish_envelope(once)
    await workshop.kafka.publish_envelope(envelope(created, garage.id))  # a new envelope, the same booking
    await workshop.appointment(garage, created.booking_id)
    await workshop.link_timer(garage, created.booking_id)
    control = await workshop.book(garage)
    await workshop.link_timer(garage, control.booking_id)
    assert len(await workshop.all_published(garage, "timer.requests", "timer.set", created.booking_id)) == 1


async def test_a_change_without_a_snapshot_is_taken_in_only_when_it_ends_the_booking(workshop):
    garage = await workshop.garage()
    booking = await workshop.book(garage)
    for to_state in ("confirmed", "deleted"):
        await workshop.kafka.publish_envelope(envelope(OrderTransitioned(
            booking_id=booking.booking_id, from_state="booked", to_state=to_state, transition=to_state, actor="system"), garage.id))
    await workshop.published(garage, "timer.requests", "timer.cancel", booking_id=booking.booking_id)
    assert (await workshop.appointment(garage, booking.booking_id))["state"] == "deleted"


async def test_an_older_tenant_update_after_a_newer_one_is_not_kept(workshop):
    from bookflow_contracts import TenantUpdated

    garage = await workshop.garage(zone="Europe/Amsterdam")
    newer = datetime.now(UTC)
    older = newer - timedelta(minutes=5)
    for at, zone in ((newer, "America/New_York"), (older, "Asia/Tokyo")):
        await workshop.kafka.publish_envelope(envelope(
            TenantUpdated(tenant_id=garage.id, name="Garage De Vries", time_zone=zone, language="nl"), garage.id).model_copy(
            update={"occurred_at": at, "event_id": uuid.uuid4()}))
    await wait_until(lambda: _first_timer_in(workshop, garage, "America/New_York"), what="the newer zone to be kept")


async def _first_timer_in(workshop, garage, zone_name):
    from zoneinfo import ZoneInfo

    booking = await workshop.book(garage)
    timer = await workshop.link_timer(garage, booking.booking_id)
    due = datetime.fromisoformat(timer["due_at"]).astimezone(ZoneInfo(zone_name))
    return due.time() == booking.starts_at.astimezone(ZoneInfo(zone_name)).time()
