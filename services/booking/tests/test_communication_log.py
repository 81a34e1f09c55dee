"""The communication log (A6, X4) from the booking service's own projection of
`notification.status`, on the real broker and PostgreSQL: the test plays the notification
service, and nothing asks it anything over HTTP."""
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from bookflow_contracts import NotificationStatusChanged, topics
from bookflow_devstack.testing import envelope, wait_until


async def tell(desk, office, booking: dict | None, status: str, *, message_id: uuid.UUID, at: datetime, customer_id: str | None = None,
               **fields) -> None:
    """The notification service tells of a message's new status."""
    await desk.kafka.publish_envelope(envelope(NotificationStatusChanged(
        message_id=message_id, idempotency_key=f"k-{message_id}", booking_id=booking["id"] if booking else None,
        customer_id=customer_id or booking["customer_id"], channel=fields.pop("channel", "sms"), status=status, at=at,
        template_key=fields.pop("template_key", "booking-notice"), **fields), office.id))


async def test_a_bookings_messages_are_logged_with_channel_status_times_and_cost_from_notification_status(desk):
    office = await desk.tenant()
    booking = await desk.book(office)
    notice, letter = uuid.uuid4(), uuid.uuid4()
    t0 = datetime.now(UTC).replace(microsecond=0)
    await tell(desk, office, booking, "queued", message_id=notice, at=t0)
    await tell(desk, office, booking, "sent", message_id=notice, at=t0 + timedelta(seconds=1), provider="46elks", segments=2)
    await tell(desk, office, booking, "delivered", message_id=notice, at=t0 + timedelta(seconds=5), provider="46elks", segments=2,
               cost=Decimal("1.60"), currency="SEK", payer="tenant")
    await tell(desk, office, booking, "sent", message_id=notice, at=t0 + timedelta(seconds=1), provider="46elks")  # told twice, late
    await tell(desk, office, booking, "failed", message_id=letter, at=t0 + timedelta(seconds=2), channel="letter",
               reason="no postal address")

    async def logged():
        log = await desk.get(office, f"/bookings/{booking['id']}/messages")
        return log if len(log) == 2 and log[0]["status"] == "delivered" else None

    sms, failed = await wait_until(logged, what="both messages in the log")
    assert (sms["id"], sms["channel"], sms["template_key"], sms["provider"], sms["segments"]) == (
        str(notice), "sms", "booking-notice", "46elks", 2)
    assert (Decimal(sms["cost"]), sms["currency"]) == (Decimal("1.60"), "SEK")
    assert [datetime.fromisoformat(sms[k]) for k in ("created_at", "sent_at", "delivered_at")] == [
        t0, t0 + timedelta(seconds=1), t0 + timedelta(seconds=5)]
    assert [h["status"] for h in sms["history"]] == ["queued", "sent", "delivered"]  # the late repeat kept once
    assert (failed["status"], failed["reason"], failed["channel"]) == ("failed", "no postal address", "letter")


async def test_a_status_told_out_of_order_does_not_undo_a_later_one(desk):
    office = await desk.tenant()
    booking = await desk.book(office)
    message, t0 = uuid.uuid4(), datetime.now(UTC)
    await tell(desk, office, booking, "delivered", message_id=message, at=t0 + timedelta(seconds=3))
    await tell(desk, office, booking, "queued", message_id=message, at=t0)

    async def both_heard():
        [m] = await desk.get(office, f"/bookings/{booking['id']}/messages") or [None]
        return m if m and len(m["history"]) == 2 else None

    m = await wait_until(both_heard, what="both statuses")
    assert m["status"] == "delivered" and datetime.fromisoformat(m["created_at"]) == t0


async def test_the_customer_card_shows_the_customers_messages_of_every_booking_and_of_none(desk):
    office = await desk.tenant()
    first = await desk.book(office, customer={"name": "Åsa Öberg", "phone": "+46701234567", "customer_number": "K-9"})
    second = await desk.book(office, customer={"name": "Åsa Öberg", "customer_number": "K-9"}, starts_in=timedelta(days=20))
    now = datetime.now(UTC)
    await tell(desk, office, first, "sent", message_id=uuid.uuid4(), at=now)
    await tell(desk, office, second, "withdrawn", message_id=uuid.uuid4(), at=now + timedelta(seconds=1), reason="the booking moved on")
    await tell(desk, office, None, "delivered", message_id=uuid.uuid4(), at=now + timedelta(seconds=2), customer_id=first["customer_id"],
               template_key="book-again")

    async def card():
        found = await desk.get(office, f"/customers/{first['customer_id']}")
        return found if len(found["communication_log"]) == 3 else None

    log = (await wait_until(card, what="three messages on the card"))["communication_log"]
    assert [(e["kind"], e["booking_id"], e["message"]["status"]) for e in log] == [
        ("message", first["id"], "sent"), ("message", second["id"], "withdrawn"), ("message", None, "delivered")]
    assert "withdrawn (the booking moved on)" in log[1]["text"]
    assert await desk.get(office, f"/bookings/{second['id']}/messages") == [log[1]["message"]]


async def test_another_tenants_booking_log_is_not_found(desk):
    ours, theirs = await desk.tenant(), await desk.tenant()
    booking = await desk.book(theirs)
    response = await desk.client.get(ours.url(f"/bookings/{booking['id']}/messages"), headers=ours.headers)
    assert response.status_code == 404
    response = await desk.client.get(theirs.url(f"/bookings/{uuid.uuid4()}/communication-log"), headers=theirs.headers)
    assert response.status_code == 404


async def test_a_messages_statuses_in_one_batch_are_kept_in_order_as_if_told_one_by_one(desk, service):
    """The 18:00 rush hands the log its statuses in batches: a message's queued, sent, delivered
    and a late repeat in one batch come out as they do one by one; an unknown tenant fails the
    batch (the consumer then handles its messages one by one)."""
    import pytest

    from bookflow_booking import handlers
    from bookflow_runtime.errors import Undeliverable

    office = await desk.tenant()
    booking = await desk.book(office)
    notice, other, t0 = uuid.uuid4(), uuid.uuid4(), datetime.now(UTC).replace(microsecond=0)

    def told(message_id, status, at, tenant=office.id, **fields):
        event = NotificationStatusChanged(message_id=message_id, idempotency_key=f"k-{message_id}", booking_id=booking["id"],
                                          customer_id=booking["customer_id"], channel="sms", status=status, at=at,
                                          template_key="booking-notice", **fields)
        return event, envelope(event, tenant)

    batch = [told(notice, "queued", t0), told(other, "queued", t0), told(notice, "sent", t0 + timedelta(seconds=1), provider="46elks"),
             told(notice, "delivered", t0 + timedelta(seconds=4), cost=Decimal("0.80"), currency="SEK"),
             told(notice, "sent", t0 + timedelta(seconds=1), provider="46elks")]
    async with service[0].db.transaction() as session:
        await handlers.record_notification_statuses(session, batch)
    with pytest.raises(Undeliverable):
        async with service[0].db.transaction() as session:
            await handlers.record_notification_statuses(session, [*batch, told(uuid.uuid4(), "queued", t0, tenant="t-nobody")])

    log = {m["id"]: m for m in await desk.get(office, f"/bookings/{booking['id']}/messages")}
    sms = log[str(notice)]
    assert [h["status"] for h in sms["history"]] == ["queued", "sent", "delivered"]
    assert (sms["status"], sms["provider"], Decimal(sms["cost"]), datetime.fromisoformat(sms["sent_at"])) == (
        "delivered", "46elks", Decimal("0.80"), t0 + timedelta(seconds=1))
    assert log[str(other)]["status"] == "queued" and len(log) == 2
