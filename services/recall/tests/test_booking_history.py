"""The recall service keeps its own history of each customer's bookings from `booking.created`
and `order.transitioned`, whatever order they arrive in."""
import uuid
from datetime import UTC, datetime, timedelta

from prometheus_client import REGISTRY

from bookflow_contracts import BookingCreated, CustomerSnapshot, topics
from bookflow_devstack.testing import envelope, header, new_tenant, staff_headers, wait_until

START = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)


def created(customer_id: uuid.UUID, days: int) -> BookingCreated:
    return BookingCreated(
        booking_id=uuid.uuid4(), customer=CustomerSnapshot(customer_id=customer_id, name="Mette"),
        service="dental-checkup", starts_at=START + timedelta(days=days),
        ends_at=START + timedelta(days=days, minutes=30), state="unconfirmed",
    )


async def test_each_booking_enters_the_customers_history_once_and_bad_messages_are_dead_lettered(service, kafka, open_salon):
    _, client = service
    tenant, customer = (await open_salon()).id, uuid.uuid4()
    first, second = created(customer, 0), created(customer, 180)
    await kafka.publish_envelope(envelope(first, tenant))
    await kafka.publish(topics.BOOKING_CREATED, b'{"event_id": "not-a-uuid"}', key=tenant.encode())
    await kafka.publish_envelope(envelope(second, tenant))
    await kafka.publish_envelope(envelope(first, tenant))  # a different event about the same booking

    async def history():
        rows = (await client.get(f"/tenants/{tenant}/customers/{customer}/bookings", headers=staff_headers(tenant))).json()
        return rows if len(rows) == 2 else None

    rows = await wait_until(history, what="both bookings in the history")
    assert [r["booking_id"] for r in rows] == [str(first.booking_id), str(second.booking_id)]
    async with kafka.reader(topics.DEAD_LETTER) as reader:
        [dead] = await reader.wait_for(lambda r: r.key == tenant.encode())
    assert header(dead, "dead-letter-consumer") == "recall.bookings"
    assert header(dead, "dead-letter-reason").startswith("undecodable")
    assert (await client.get(f"/tenants/{tenant}/customers/{customer}/bookings")).status_code == 401
    assert (await client.get(f"/tenants/{tenant}/customers/{customer}/bookings", headers=staff_headers("other"))).status_code == 404


async def test_a_message_for_a_tenant_never_announced_is_dead_lettered_as_unknown_tenant(service, kafka, open_salon):
    _, client = service
    known, ghost = await open_salon(), new_tenant()
    customer = uuid.uuid4()
    lost = envelope(created(customer, 0), ghost)
    await kafka.publish_envelope(lost)
    fine = created(customer, 1)
    await kafka.publish_envelope(envelope(fine, known.id))
    async with kafka.reader(topics.DEAD_LETTER) as reader:
        [dead] = await reader.wait_for(lambda r: r.key == lost.key.encode(), timeout=30, what="the ghost tenant's booking dead-lettered")
    assert header(dead, "dead-letter-consumer") == "recall.bookings"
    assert header(dead, "dead-letter-reason").startswith("unknown-tenant")
    await wait_until(lambda: known.knows(fine.booking_id, customer), what="the known tenant's booking in its history")
    assert (await client.get(f"/tenants/{ghost}/customers/{customer}/bookings", headers=staff_headers(ghost))).json() == []


async def test_the_newest_state_wins_whatever_order_the_events_arrive_in(open_salon):
    salon = await open_salon()
    customer = await salon.customer()
    later_made = uuid.uuid4()
    # A booking's completion and a reschedule overtake its creation; an older change comes last.
    booking = BookingCreated(booking_id=later_made, customer=customer, service="dental-checkup", starts_at=START,
                             ends_at=START + timedelta(hours=1), state="booked", source="recall-auto-book", source_ref="r-1")
    salon.versions[later_made] = 0
    handled = transitions_handled()
    await salon.transition(booking, "completed", version=2, starts_at=START + timedelta(days=1))
    await salon.publish(booking)
    await salon.transition(booking, "confirmed", version=1)

    async def settled():
        rows = await salon.history(customer.customer_id)
        return rows[0] if rows and rows[0]["booked_at"] else None

    row = await wait_until(settled, what="the booking with its creation")
    await wait_until(lambda: transitions_handled() >= handled + 2, what="the older change handled")
    row = (await salon.history(customer.customer_id))[0]
    assert (row["state"], row["version"], row["starts_at"]) == ("completed", 2, (START + timedelta(days=1)).isoformat().replace("+00:00", "Z"))
    assert (row["source"], row["source_label"], row["source_ref"]) == ("recall-auto-book", "recall auto-book", "r-1")


def transitions_handled() -> float:
    """`order.transitioned` messages the in-process service has handled."""
    return REGISTRY.get_sample_value("bookflow_messages_handled_total",
                                     {"consumer": "recall.transitions", "type": "order.transitioned"}) or 0.0
