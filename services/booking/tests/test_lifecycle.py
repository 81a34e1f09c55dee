"""The whole life of a booking, on the real broker and PostgreSQL: completed, no-show and deleted
are moves of the one state machine, each published on `order.transitioned` with actor, reason and
the booking as it is after the move; a deleted booking is kept but never shown as active."""
from datetime import UTC, datetime, timedelta

from bookflow_contracts import topics


def transitions(desk, office, booking_id: str, count: int = 1):
    return desk.published(office, topics.ORDER_TRANSITIONED, "order.transitioned", booking_id=booking_id, count=count)


async def test_completed_no_show_and_deleted_are_published_with_actor_reason_and_the_booking_after_the_move(desk):
    office = await desk.tenant()
    came, stayed_away, mistake = [await desk.book(office, starts_in=timedelta(days=d)) for d in (3, 4, 5)]
    await desk.post(office, f"/bookings/{came['id']}/transitions/complete", {"reason": "done, new meter 73-1"})
    await desk.post(office, f"/bookings/{stayed_away['id']}/transitions/no-show", {"reason": "nobody home"})
    deleted = await desk.post(office, f"/bookings/{mistake['id']}/transitions/delete", {"reason": "booked twice"})
    assert (deleted["state"], deleted["deleted"]) == ("deleted", True)

    for booking, name, state, reason in ((came, "complete", "completed", "done, new meter 73-1"),
                                         (stayed_away, "no-show", "no-show", "nobody home"),
                                         (mistake, "delete", "deleted", "booked twice")):
        [event] = await transitions(desk, office, booking["id"])
        assert (event["transition"], event["from_state"], event["to_state"]) == (name, "booked", state)
        assert (event["actor"], event["reason"]) == ("staff:admin", reason)
        snapshot = event["booking"]
        assert (snapshot["booking_id"], snapshot["customer_id"], snapshot["state"], snapshot["version"]) == (
            booking["id"], booking["customer_id"], state, 1)
        assert (snapshot["service"], snapshot["starts_at"], snapshot["source"]) == ("mätarbyte", booking["starts_at"], "staff")


async def test_a_deleted_booking_is_kept_but_never_listed_as_active_unless_asked_and_its_slot_is_free(desk):
    office = await desk.tenant()
    kept, mistake = await desk.book(office), await desk.book(office, starts_in=timedelta(days=15))
    await desk.post(office, f"/bookings/{mistake['id']}/transitions/delete")
    assert [b["id"] for b in await desk.get(office, "/bookings")] == [kept["id"]]
    assert [b["id"] for b in await desk.get(office, "/bookings", include_deleted="true")] == [kept["id"], mistake["id"]]
    assert [b["id"] for b in await desk.get(office, "/bookings", state="deleted")] == [mistake["id"]]
    card = await desk.get(office, f"/customers/{mistake['customer_id']}")
    assert card["bookings"] == []
    assert (await desk.get(office, f"/bookings/{mistake['id']}"))["state"] == "deleted"  # kept
    [freed] = await desk.get(office, "/freed-slots", reason="deleted")
    assert freed["booking_id"] == mistake["id"] and freed["still_free"] is True


async def test_an_ended_booking_cannot_be_cancelled_completed_or_moved_again(desk):
    office = await desk.tenant()
    booking = await desk.book(office)
    await desk.post(office, f"/bookings/{booking['id']}/transitions/complete")
    for name in ("cancel", "complete", "no-show"):
        response = await desk.client.post(office.url(f"/bookings/{booking['id']}/transitions/{name}"), headers=office.headers)
        assert response.status_code == 409 and response.json()["code"] == "transition-not-allowed", name
    start = datetime.now(UTC) + timedelta(days=40)
    moved = await desk.client.post(office.url(f"/bookings/{booking['id']}/reschedule"), headers=office.headers,
                                   json={"starts_at": start.isoformat(), "estimate": "PT1H"})
    assert moved.status_code == 409
    assert (await desk.post(office, f"/bookings/{booking['id']}/transitions/delete"))["state"] == "deleted"  # a mistake, still
    assert await desk.get(office, "/freed-slots") == []  # a completed visit's time is not freed


async def test_a_rescheduled_bookings_order_transitioned_carries_the_new_start(desk):
    office = await desk.tenant(flow="confirmation")
    booking = await desk.book(office)
    new_start = (datetime.now(UTC) + timedelta(days=30)).replace(microsecond=0)
    await desk.post(office, f"/bookings/{booking['id']}/reschedule", {"starts_at": new_start.isoformat(), "estimate": "PT2H",
                                                                      "reason": "the customer asked"})
    [event] = await transitions(desk, office, booking["id"])
    assert event["transition"] == "reschedule" and event["to_state"] == "unconfirmed"
    assert datetime.fromisoformat(event["booking"]["starts_at"]) == new_start
    assert datetime.fromisoformat(event["booking"]["ends_at"]) == new_start + timedelta(hours=2)
    assert event["booking"]["version"] == 1
