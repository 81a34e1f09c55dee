"""Day-before reminders arriving in bulk (issue 17, the 18:00 rush): the reminders consumer
handles them in batches, and each reminder still does exactly what it would alone. The test plays
the scheduler and hands the timers back all at once, twice."""
import asyncio
import uuid
from datetime import UTC, datetime, timedelta

from aiokafka import AIOKafkaProducer

from bookflow_contracts import ReminderDue, ReplyReceived, encode, topics
from bookflow_devstack.testing import envelope, wait_until

ORDERS = 30


async def ready_orders(desk, office, n: int) -> list[dict]:
    """`n` orders ready for execution (locked, booking SMS out, each answered OK by its customer)."""
    technician = await desk.post(office, "/technicians", {"name": "Ola"}, status=201)
    start = (datetime.now(UTC) + timedelta(days=3)).replace(microsecond=0)
    made = [await desk.book(office, technician_id=technician["id"], sequence=i, starts_at=(start + timedelta(minutes=i)).isoformat(),
                            ends_at=(start + timedelta(minutes=i + 1)).isoformat(),
                            customer={"name": f"Kari {i}", "phone": f"+4791235{i:03d}", "language": "nb"}) for i in range(n)]
    locked = await desk.post(office, "/orders/lock", {"booking_ids": [o["id"] for o in made]})
    codes = {r["booking_id"]: r["booking_code"] for r in locked["locked"]}
    await desk.post(office, "/orders/letters", {"by": "sms"})
    await handed_back(desk, [envelope(_reply(codes[o["id"]], o["phone"]), office.id) for o in made], topics.REPLY_RECEIVED)

    async def all_ready():
        ready = await desk.get(office, "/bookings", state="ready-for-execution")
        return ready if len(ready) == n else None

    return await wait_until(all_ready, timeout=60, what="every order ready for execution")


def _reply(code: str, phone: str) -> ReplyReceived:
    return ReplyReceived(reply_id=uuid.uuid4(), channel="sms", sender=phone, recipient="+4759440000", text=f"{code} OK",
                         received_at=datetime.now(UTC), provider="sandbox")


async def handed_back(desk, envelopes, topic: str = topics.REMINDER_DUE) -> None:
    """Published in one go, so the consumer takes them in batches."""
    producer = AIOKafkaProducer(bootstrap_servers=desk.kafka.bootstrap_servers, enable_idempotence=False, linger_ms=20)
    await producer.start()
    try:
        sent = [await producer.send(topic, encode(e), key=e.key.encode(), headers=e.headers()) for e in envelopes]
        await asyncio.gather(*sent)
    finally:
        await producer.stop()


async def test_reminders_handed_back_all_at_once_ask_once_for_each_order_still_meant_and_nothing_for_the_rest(desk):
    office = await desk.tenant(flow="letter", time_zone="Europe/Oslo", language="nb", reply_number="+4759440000",
                               letter_folder="pinea", sms_response_time="PT2H")
    orders = await ready_orders(desk, office, ORDERS)
    timers = {o["id"]: (await desk.published(office, topics.TIMER_REQUESTS, "timer.set", booking_id=o["id"],
                                             where=lambda p: p["payload"].get("kind") == "appointment-reminder"))[-1] for o in orders}
    cancelled = orders[:3]  # cancelled after their timers were set: the firing must notice
    for o in cancelled:
        await desk.post(office, f"/bookings/{o['id']}/transitions/cancel", {"reason": "moved away"})
    now = datetime.now(UTC)
    due = [envelope(ReminderDue(timer_key=t["timer_key"], payload=t["payload"], due_at=t["due_at"], fired_at=now, lateness_ms=5),
                    office.id) for t in timers.values()]
    await handed_back(desk, due)
    await handed_back(desk, due)  # delivered again, as after a consumer's restart: handled once

    async def all_recorded():
        views = [await desk.get(office, f"/bookings/{o['id']}") for o in orders]
        return views if all(len(v["reminders_received"]) == 1 for v in views) else None

    views = await wait_until(all_recorded, timeout=30, what="every reminder recorded as received")
    assert {v["reminders_received"][0]["lateness_ms"] for v in views} == {5}
    meant = [o for o in orders if o not in cancelled]
    asked = await desk.published(office, topics.NOTIFICATION_REQUESTS, "notification.send", count=len(meant),
                                 where=lambda p: p["template_key"] == "appointment-reminder")
    assert sorted(p["booking_id"] for p in asked) == sorted(o["id"] for o in meant)
    assert {p["customer"]["phone"] for p in asked} == {o["phone"] for o in meant}
