"""Flow B, letter booking of work orders (seed 002), with the booking service in this process on
the real broker and PostgreSQL. The test plays the scheduler (hands timers back) and the
notification service (publishes customers' replies)."""
import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from bookflow_contracts import ReminderDue, ReplyReceived, topics
from bookflow_contracts.templates import TEMPLATES
from bookflow_devstack.testing import envelope, wait_until

OSLO = ZoneInfo("Europe/Oslo")
DAY = datetime(2027, 2, 22, 8, 0, tzinfo=OSLO)


async def planned_day(desk, office, *, orders: int = 3, **kw) -> tuple[dict, list[dict]]:
    """A technician with `orders` work orders on DAY, an hour apart."""
    technician = await desk.post(office, "/technicians", {"name": "Ola Nordmann"}, status=201)
    made = [await desk.book(office, technician_id=technician["id"], sequence=i, starts_at=(DAY + timedelta(hours=i)).isoformat(),
                            ends_at=(DAY + timedelta(hours=i + 1)).isoformat(),
                            customer={"name": f"Kari {i}", "phone": f"+4791234{i:03d}", "language": "nb"}, **kw)
            for i in range(orders)]
    return technician, made


async def letter_tenant(desk, **settings):
    return await desk.tenant(flow="letter", time_zone="Europe/Oslo", language="nb", reply_number="+4759440000",
                             letter_folder="pinea", **settings)


async def awaiting_response(desk, office, orders: int = 1) -> list[dict]:
    """Orders locked and with their letters out: awaiting the customer's answer."""
    _, made = await planned_day(desk, office, orders=orders)
    await desk.post(office, "/orders/lock", {"booking_ids": [o["id"] for o in made]})
    await desk.post(office, "/orders/letters", {"booking_ids": [o["id"] for o in made]})
    return [await desk.get(office, f"/bookings/{o['id']}") for o in made]


async def reply(desk, office, text: str, reply_id: uuid.UUID | None = None, *, sender: str = "+4791234000") -> uuid.UUID:
    """The customer (`sender`) answers by SMS, as the notification service would pass it on."""
    reply_id = reply_id or uuid.uuid4()
    await desk.kafka.publish_envelope(envelope(ReplyReceived(
        reply_id=reply_id, channel="sms", sender=sender, recipient="+4759440000", text=text,
        received_at=datetime.now(UTC), provider="sandbox"), office.id))
    return reply_id


async def fire(desk, office, timer: dict) -> None:
    now = datetime.now(UTC)
    await desk.kafka.publish_envelope(envelope(ReminderDue(
        timer_key=timer["timer_key"], payload=timer["payload"], due_at=timer["due_at"], fired_at=now, lateness_ms=0), office.id))


async def timer_of(desk, office, booking_id: str, kind: str, count: int = 1) -> dict:
    timers = await desk.published(office, topics.TIMER_REQUESTS, "timer.set", booking_id=booking_id, count=count,
                                  where=lambda p: p["payload"].get("kind") == kind)
    return timers[-1]


async def state_is(desk, office, booking_id: str, state: str):
    view = await desk.get(office, f"/bookings/{booking_id}")
    return view if view["state"] == state else None


async def test_locking_a_technicians_day_gives_each_order_a_code_and_refuses_orders_a_letter_cannot_reach(desk):
    office = await letter_tenant(desk)
    technician, made = await planned_day(desk, office)
    no_street = await desk.book(office, technician_id=technician["id"], starts_at=(DAY + timedelta(hours=5)).isoformat(),
                                ends_at=(DAY + timedelta(hours=6)).isoformat(), place={"city": "Bergen"})
    other_day = await desk.book(office, technician_id=technician["id"], starts_at=(DAY + timedelta(days=1)).isoformat(),
                                ends_at=(DAY + timedelta(days=1, hours=1)).isoformat())
    assert {o["state"] for o in made} == {"planned"}

    result = await desk.post(office, "/orders/lock", {"technician_id": technician["id"], "day": "2027-02-22"})
    assert {r["booking_id"] for r in result["locked"]} == {o["id"] for o in made}
    assert result["refused"] == [{"booking_id": no_street["id"], "reasons": ["missing street address", "missing postcode"]}]
    codes = [r["booking_code"] for r in result["locked"]]
    assert len(set(codes)) == 3 and all(len(c) == 8 for c in codes)
    ready = await desk.get(office, "/bookings", state="ready-for-print")
    assert [r["id"] for r in ready] == [o["id"] for o in made]
    assert (await desk.get(office, f"/bookings/{other_day['id']}"))["state"] == "planned"
    moves = await desk.published(office, topics.ORDER_TRANSITIONED, "order.transitioned", count=3)
    assert {(m["from_state"], m["to_state"], m["transition"], m["actor"]) for m in moves} == {
        ("planned", "ready-for-print", "lock", "staff:admin")}

    single = await desk.post(office, "/orders/lock", {"booking_ids": [other_day["id"], made[0]["id"]]})
    assert [r["booking_id"] for r in single["locked"]] == [other_day["id"]]
    assert single["refused"] == [{"booking_id": made[0]["id"], "reasons": ["the order is ready-for-print, not planned"]}]


async def test_letters_for_all_orders_ready_for_print_ask_for_a_pdf_with_the_code_and_await_the_response(desk):
    office = await letter_tenant(desk, letter_response_time="P7D")
    _, made = await planned_day(desk, office, orders=2)
    locked = (await desk.post(office, "/orders/lock", {"booking_ids": [o["id"] for o in made]}))["locked"]
    result = await desk.post(office, "/orders/letters", {})
    assert {s["booking_id"] for s in result["sent"]} == {o["id"] for o in made}
    for order, lock in zip(made, locked, strict=True):
        [letter] = await desk.published(office, topics.NOTIFICATION_REQUESTS, "notification.send", booking_id=order["id"])
        assert letter["template_key"] == "order-letter" and letter["channels"] == ["letter"]
        assert set(letter["data"]) == set(TEMPLATES["order-letter"].placeholders)
        assert letter["data"]["booking_code"] == lock["booking_code"] and letter["data"]["reply_number"] == "+4759440000"
        view = await desk.get(office, f"/bookings/{order['id']}")
        assert view["state"] == "awaiting-response"
        timer = await timer_of(desk, office, order["id"], "booking-reminder")
        sent_at = datetime.fromisoformat(view["history"][-1]["at"])
        assert datetime.fromisoformat(timer["due_at"]) - sent_at == timedelta(days=7)
    again = await desk.post(office, "/orders/letters", {"booking_ids": [made[0]["id"]]})
    assert again["sent"] == [] and "cannot print-letter a booking that is awaiting-response" in again["refused"][0]["reasons"][0]


async def test_replies_move_orders_on_exactly_ok_and_anything_else_needs_a_person(desk):
    office = await letter_tenant(desk)
    orders = await awaiting_response(desk, office, orders=4)
    texts = ["OK", "ok ", "KONTAKT", "Ok!!"]
    for order, text in zip(orders, texts, strict=True):
        code = order["booking_code"].lower() if text == "ok " else order["booking_code"]
        await reply(desk, office, f"{code} {text}", sender=order["phone"])
    expected = ["ready-for-execution", "ready-for-execution", "manual-follow-up", "manual-follow-up"]
    for order, state, text in zip(orders, expected, texts, strict=True):
        view = await wait_until(lambda o=order, s=state: state_is(desk, office, o["id"], s), what=f"{text!r} to move the order")
        assert view["replies"][0]["text"].endswith(text) and view["history"][-1]["actor"] == "customer"
    await timer_of(desk, office, orders[0]["id"], "appointment-reminder")


async def test_a_reply_with_an_unknown_code_changes_nothing_and_is_kept_for_the_planner(desk):
    office = await letter_tenant(desk)
    [order] = await awaiting_response(desk, office)
    reply_id = await reply(desk, office, "ZZZZ9999 OK")
    await reply(desk, office, "ZZZZ9999 OK", reply_id)  # the provider delivered it twice
    unmatched = await wait_until(lambda: desk.get(office, "/replies/unmatched"), what="the reply kept for the planner")
    assert [(u["code"], u["text"], u["outcome"]) for u in unmatched] == [("ZZZZ9999", "ZZZZ9999 OK", "unknown code")]
    await reply(desk, office, f"{order['booking_code']} OK", sender=order["phone"])
    await wait_until(lambda: state_is(desk, office, order["id"], "ready-for-execution"), what="the real answer")
    assert len(await desk.get(office, "/replies/unmatched")) == 1


async def test_no_answer_in_time_sends_a_booking_reminder_and_moves_the_order_to_manual_follow_up(desk):
    office = await letter_tenant(desk)
    [order, answered] = await awaiting_response(desk, office, orders=2)
    timers = [await timer_of(desk, office, o["id"], "booking-reminder") for o in (order, answered)]
    await reply(desk, office, f"{answered['booking_code']} OK", sender=answered["phone"])
    await wait_until(lambda: state_is(desk, office, answered["id"], "ready-for-execution"), what="the answer")
    for timer in timers:
        await fire(desk, office, timer)
    view = await wait_until(lambda: state_is(desk, office, order["id"], "manual-follow-up"), what="the order to need a person")
    assert view["history"][-1]["transition"] == "no-answer" and view["history"][-1]["actor"] == "system"
    [reminder] = await desk.published(office, topics.NOTIFICATION_REQUESTS, "notification.send", booking_id=order["id"],
                                      where=lambda p: p["template_key"] == "booking-reminder")
    assert reminder["channels"] == ["sms"] and reminder["data"]["booking_code"] == order["booking_code"]
    await wait_until(lambda: _reminded(desk, office, answered["id"]), what="the stale booking reminder to arrive")
    assert (await desk.get(office, f"/bookings/{answered['id']}"))["state"] == "ready-for-execution"


async def _reminded(desk, office, booking_id):
    view = await desk.get(office, f"/bookings/{booking_id}")
    return any(r["timer_key"].endswith(":booking-reminder") for r in view["reminders_received"])


async def test_the_planner_moves_an_order_to_manual_follow_up_by_hand_before_the_reminder(desk):
    office = await letter_tenant(desk)
    [order] = await awaiting_response(desk, office)
    view = await desk.post(office, f"/bookings/{order['id']}/transitions/follow-up-manually", {"reason": "no point waiting"})
    assert view["state"] == "manual-follow-up" and view["state_reason"] == "no point waiting"
    cancels = await desk.published(office, topics.TIMER_REQUESTS, "timer.cancel-prefix", booking_id=order["id"], count=3)
    assert cancels[-1]["prefix"] == f"booking:{order['id']}:"
    listed = await desk.get(office, "/bookings", state="manual-follow-up")
    assert [o["id"] for o in listed] == [order["id"]]


async def test_an_order_ready_for_execution_gets_its_appointment_reminder_the_day_before_at_18(desk):
    office = await letter_tenant(desk)
    [order, moved] = await awaiting_response(desk, office, orders=2)
    for o in (order, moved):
        await reply(desk, office, f"{o['booking_code']} OK", sender=o["phone"])
        await wait_until(lambda o=o: state_is(desk, office, o["id"], "ready-for-execution"), what="the answer")
    timer = await timer_of(desk, office, order["id"], "appointment-reminder")
    assert datetime.fromisoformat(timer["due_at"]) == datetime(2027, 2, 21, 18, 0, tzinfo=OSLO)
    stale = await timer_of(desk, office, moved["id"], "appointment-reminder")
    await reply(desk, office, f"{moved['booking_code']} KONTAKT", sender=moved["phone"])  # changed their mind: a person calls
    await wait_until(lambda: state_is(desk, office, moved["id"], "manual-follow-up"), what="the change of mind")
    await fire(desk, office, timer)
    await fire(desk, office, stale)
    [reminder] = await desk.published(office, topics.NOTIFICATION_REQUESTS, "notification.send", booking_id=order["id"],
                                      where=lambda p: p["template_key"] == "appointment-reminder")
    assert set(reminder["data"]) == set(TEMPLATES["appointment-reminder"].placeholders)
    await wait_until(lambda: _reminded_of(desk, office, moved["id"], "appointment-reminder"), what="the stale reminder")
    async with desk.kafka.reader(topics.NOTIFICATION_REQUESTS) as reader:
        await reader.poll()
        sent = [e.payload["template_key"] for e in reader.envelopes() if e.key == f"booking:{moved['id']}" and e.type == "notification.send"]
    assert "appointment-reminder" not in sent


async def _reminded_of(desk, office, booking_id, kind):
    view = await desk.get(office, f"/bookings/{booking_id}")
    return any(r["timer_key"].endswith(f":{kind}") for r in view["reminders_received"])


async def test_from_manual_follow_up_the_planner_sends_to_execution_confirms_by_sms_reschedules_or_holds(desk):
    office = await letter_tenant(desk)
    orders = await awaiting_response(desk, office, orders=4)
    for o in orders:
        await desk.post(office, f"/bookings/{o['id']}/transitions/follow-up-manually")
    direct, by_sms, moved, held = orders
    other = await desk.post(office, "/technicians", {"name": "Per"}, status=201)

    assert (await desk.post(office, f"/bookings/{direct['id']}/transitions/send-to-execution",
                            {"reason": "answered Ok!!"}))["state"] == "ready-for-execution"
    assert (await desk.post(office, f"/bookings/{by_sms['id']}/transitions/confirm-by-sms",
                            {"reason": "agreed on the phone"}))["state"] == "ready-for-execution"
    [confirmation] = await desk.published(office, topics.NOTIFICATION_REQUESTS, "notification.send", booking_id=by_sms["id"],
                                          where=lambda p: p["template_key"] == "booking-confirmation")
    assert confirmation["channels"] == ["sms"]
    async with desk.kafka.reader(topics.NOTIFICATION_REQUESTS) as reader:
        await reader.poll()
        assert "booking-confirmation" not in [e.payload["template_key"] for e in reader.envelopes() if e.key == f"booking:{direct['id']}" and e.type == "notification.send"]

    new_start = datetime(2027, 2, 22, 10, 0, tzinfo=OSLO)
    view = await desk.post(office, f"/bookings/{moved['id']}/reschedule", {
        "starts_at": new_start.isoformat(), "estimate": "PT1H", "technician_id": other["id"], "sequence": 1,
        "reason": "customer asked for 10-11"})
    assert (view["state"], view["technician_id"], view["sequence"]) == ("manual-follow-up", other["id"], 1)
    assert datetime.fromisoformat(view["starts_at"]) == new_start and datetime.fromisoformat(view["ends_at"]) == new_start + timedelta(hours=1)

    view = await desk.post(office, f"/bookings/{held['id']}/hold", {"back_around": "2027-04-01", "technician_id": None,
                                                                     "reason": "customer abroad"})
    assert (view["state"], view["hold_until"], view["technician_id"]) == ("on-hold", "2027-04-01", None)
    refused = await desk.client.post(office.url(f"/bookings/{held['id']}/transitions/send-to-execution"), headers=office.headers)
    assert refused.status_code == 409

    transitions = await desk.published(office, topics.ORDER_TRANSITIONED, "order.transitioned", count=16)
    names = {(t["booking_id"], t["transition"]) for t in transitions}
    assert {(direct["id"], "send-to-execution"), (by_sms["id"], "confirm-by-sms"), (moved["id"], "reschedule"),
            (held["id"], "put-on-hold")} <= names
    technician = (await desk.get(office, f"/bookings/{direct['id']}"))["technician_id"]
    work = await desk.get(office, f"/technicians/{technician}/work-list", day="2027-02-22")
    assert {w["id"] for w in work} == {direct["id"], by_sms["id"]}  # B8: only ready for execution


async def test_an_order_booked_by_sms_waits_its_own_response_time_then_gets_a_booking_reminder(desk):
    office = await letter_tenant(desk, letter_response_time="P14D", sms_response_time="PT30M")
    _, [order] = await planned_day(desk, office, orders=1)
    await desk.post(office, "/orders/lock", {"booking_ids": [order["id"]]})
    asked_at = datetime.now(UTC)
    sent = await desk.post(office, "/orders/letters", {"booking_ids": [order["id"]], "by": "sms"})
    assert [s["booking_id"] for s in sent["sent"]] == [order["id"]]
    view = await desk.get(office, f"/bookings/{order['id']}")
    assert view["state"] == "awaiting-response" and view["history"][-1]["transition"] == "send-booking-sms"
    [request] = await desk.published(office, topics.NOTIFICATION_REQUESTS, "notification.send", booking_id=order["id"],
                                     where=lambda p: p["template_key"] == "order-letter")
    assert request["channels"] == ["sms"] and request["data"]["booking_code"] == view["booking_code"]
    timer = await timer_of(desk, office, order["id"], "booking-reminder")
    waited = datetime.fromisoformat(timer["due_at"]) - asked_at
    assert timedelta(minutes=29) < waited < timedelta(minutes=31)  # the SMS booking's 30 minutes, not the letter's 14 days
    assert datetime.fromisoformat(request["valid_until"]) == datetime.fromisoformat(timer["due_at"])

    await fire(desk, office, timer)
    view = await wait_until(lambda: state_is(desk, office, order["id"], "manual-follow-up"), what="no answer in time")
    assert view["history"][-1]["transition"] == "no-answer"
    [reminder] = await desk.published(office, topics.NOTIFICATION_REQUESTS, "notification.send", booking_id=order["id"],
                                      where=lambda p: p["template_key"] == "booking-reminder")
    assert reminder["channels"] == ["sms"] and reminder["data"]["reply_number"] == "+4759440000"


async def test_an_order_on_hold_resumes_to_manual_follow_up_and_keeps_its_technician_unless_told(desk):
    office = await letter_tenant(desk)
    [kept, unassigned] = await awaiting_response(desk, office, orders=2)
    for order in (kept, unassigned):
        await desk.post(office, f"/bookings/{order['id']}/transitions/follow-up-manually")
    held = await desk.post(office, f"/bookings/{kept['id']}/hold", {"back_around": "2027-04-01", "reason": "abroad"})
    assert (held["state"], held["technician_id"]) == ("on-hold", kept["technician_id"])  # no technician sent: kept
    gone = await desk.post(office, f"/bookings/{unassigned['id']}/hold", {"back_around": "2027-04-01", "technician_id": None})
    assert gone["technician_id"] is None  # null sent: unassigned, as asked

    resumed = await desk.post(office, f"/bookings/{kept['id']}/transitions/resume", {"reason": "back home"})
    assert (resumed["state"], resumed["technician_id"], resumed["history"][-1]["transition"]) == (
        "manual-follow-up", kept["technician_id"], "resume")
    again = await desk.client.post(office.url(f"/bookings/{kept['id']}/transitions/resume"), headers=office.headers)
    assert again.status_code == 409  # only an order on hold resumes
    events = await desk.published(office, topics.ORDER_TRANSITIONED, "order.transitioned", booking_id=kept["id"], count=5)
    assert (events[-1]["transition"], events[-1]["from_state"], events[-1]["to_state"]) == ("resume", "on-hold", "manual-follow-up")
    assert events[-1]["booking"]["technician_id"] == kept["technician_id"]
