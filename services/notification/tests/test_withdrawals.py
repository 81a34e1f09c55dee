"""Issue 9.1: a message whose reason has passed never goes out, however long it waited. The booking
service withdraws what it asked for (`notification.withdraw` on `notification.requests`, keyed
like the requests); a withdrawal reaches messages still queued or held, is remembered for
requests that arrive after it, and a message past its `valid_until` fails instead of going."""
import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from bookflow_contracts import WithdrawNotifications, booking_key, encode, topics
from bookflow_devstack.testing import envelope, envelope_of, header, wait_until

STOCKHOLM = ZoneInfo("Europe/Stockholm")


def withdrawal(booking_id: uuid.UUID, before_version: int | None = None, reason: str = "the booking was confirmed") -> WithdrawNotifications:
    return WithdrawNotifications(regarding=booking_key(booking_id), before_version=before_version, reason=reason, booking_id=booking_id)


async def test_a_request_and_its_withdrawal_in_one_batch_end_withdrawn_and_nothing_is_sent(office, kafka):
    await office.announce()
    number = office.new_phone()
    request = await office.send(phone=number, publish=False, regarding_version=1)
    first, second = envelope(request, office.id), envelope(withdrawal(request.booking_id, before_version=2), office.id)
    assert first.key == second.key
    producer = await kafka.producer()
    partition = (await producer.partitions_for(topics.NOTIFICATION_REQUESTS)).pop()
    batch = producer.create_batch()  # one record batch: the consumer fetches and handles both at once, in order
    for env in (first, second):
        batch.append(key=env.key.encode(), value=encode(env), timestamp=None, headers=env.headers())
    await (await producer.send_batch(batch, topics.NOTIFICATION_REQUESTS, partition=partition))

    message = await office.message_when(request.booking_id, lambda m: m["status"] != "queued", "the request to be decided")
    assert (message["status"], message["reason"]) == ("withdrawn", "the booking was confirmed")
    assert [(h["status"], h["detail"]) for h in message["history"]] == [("withdrawn", "the booking was confirmed")]
    async with kafka.reader(topics.NOTIFICATION_STATUS) as reader:
        [status] = await reader.wait_for(lambda r: header(r, "tenant-id") == office.id)
    assert (envelope_of(status).payload["status"], envelope_of(status).payload["regarding"]) == ("withdrawn", booking_key(request.booking_id))
    assert (await office.client.get("/sandbox/messages", params={"recipient": number})).json() == []


async def test_a_reminder_held_for_quiet_hours_is_withdrawn_when_the_booking_is_confirmed_and_never_sent(office, elks, clock):
    await office.announce("Europe/Stockholm")
    await office.configure(sms_providers=[elks.account("+46766863001")], quiet_hours_start="21:00", quiet_hours_end="08:00")
    number = office.new_phone()
    clock.frozen = datetime(2031, 1, 14, 23, 0, tzinfo=STOCKHOLM)
    try:
        request = await office.send("confirm-reminder", phone=number, regarding_version=3,
                                    data={"service": "mätarbyte", "starts_at": "2031-01-20T07:00:00+00:00", "my_pages_url": "https://x.test/m"})
        await office.message_when(request.booking_id, lambda m: m["history"], "the reminder to be held until morning")
        await office.kafka.publish_envelope(envelope(withdrawal(request.booking_id, before_version=4), office.id))
        message = await office.message_when(request.booking_id, lambda m: m["status"] == "withdrawn", "the reminder to be withdrawn")
        assert message["reason"] == "the booking was confirmed"
        clock.frozen = datetime(2031, 1, 15, 8, 30, tzinfo=STOCKHOLM)
        reads = clock.reads
        await wait_until(lambda: clock.reads >= reads + 5, what="dispatcher rounds in the morning")
        assert elks.to(number) == []
        assert (await office.log(request.booking_id))[0]["status"] == "withdrawn"
    finally:
        clock.frozen = None


RELEASED = {"service": "mätarbyte", "starts_at": "2031-01-20T07:00:00+00:00"}


async def test_a_request_that_arrives_after_its_withdrawal_is_withdrawn_on_arrival_but_a_newer_one_goes(office):
    await office.announce()
    booking_id = uuid.uuid4()
    await office.kafka.publish_envelope(envelope(withdrawal(booking_id, before_version=5, reason="the booking was cancelled"), office.id))
    # the same key, so handled after the withdrawal: as a redelivered request, or one that came by another partition
    await office.send(booking_id=booking_id, regarding_version=4, phone=office.new_phone())
    await office.send("booking-released", booking_id=booking_id, regarding_version=5, phone=office.new_phone(), data=RELEASED)

    async def both_decided():
        log = await office.log(booking_id)
        return len(log) == 2 and all(m["status"] in ("delivered", "withdrawn", "failed") for m in log) and log

    log = {m["template_key"]: m for m in await wait_until(both_decided, what="both requests to be decided")}
    assert (log["booking-notice"]["status"], log["booking-notice"]["reason"]) == ("withdrawn", "the booking was cancelled")
    assert log["booking-released"]["status"] == "delivered"


async def test_a_withdrawal_does_not_touch_a_message_that_already_went_out(office):
    await office.announce()
    request = await office.send(phone=office.new_phone(), regarding_version=1)
    await office.message_when(request.booking_id, lambda m: m["status"] == "delivered", "the message to go out")
    await office.kafka.publish_envelope(envelope(withdrawal(request.booking_id, before_version=2), office.id))
    await office.send("booking-released", booking_id=request.booking_id, regarding_version=1, phone=office.new_phone(), data=RELEASED)

    async def by_template():
        log = {m["template_key"]: m for m in await office.log(request.booking_id)}
        return "booking-released" in log and log["booking-released"]["status"] == "withdrawn" and log

    log = await wait_until(by_template, what="the withdrawal to be handled (a later request of version 1 comes back withdrawn)")
    assert log["booking-notice"]["status"] == "delivered"
    assert [h["status"] for h in log["booking-notice"]["history"]] == ["sent", "delivered"]


async def test_a_message_past_its_valid_until_is_not_sent_and_fails_with_the_reason(office):
    await office.announce()
    number = office.new_phone()
    valid_until = datetime.now(UTC) - timedelta(minutes=1)
    request = await office.send(phone=number, valid_until=valid_until)
    message = await office.message_when(request.booking_id, lambda m: m["status"] != "queued", "the request to be decided")
    assert (message["status"], message["reason"]) == ("failed", f"no longer serves its purpose (valid until {valid_until.isoformat()})")
    assert (await office.client.get("/sandbox/messages", params={"recipient": number})).json() == []
