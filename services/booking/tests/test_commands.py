"""Commands other services send the booking service on `booking.commands`, answered on
`booking.command-results`, on the real broker and PostgreSQL: the test plays check-in and recall.
A contact change from the check-in page, a work line from an intervention, and recall's auto-book
into the first free slot, where two requests at once never get the same one."""
import asyncio
import uuid
from datetime import UTC, datetime, timedelta

from bookflow_booking import handlers
from bookflow_contracts import AddWorkLine, AutoBook, ChangeCustomerContact, WorkLine, topics
from bookflow_devstack.testing import envelope, envelope_of, header, new_tenant

SOON = datetime.now(UTC) + timedelta(days=2)


async def answers(desk, office, request_id: uuid.UUID, count: int = 1) -> list[dict]:
    """The booking service's answers to one request (type and payload), as its sender reads them."""
    def answer_to(record) -> bool:
        env = envelope_of(record)
        return env is not None and env.tenant_id == office.id and env.payload.get("request_id") == str(request_id)

    async with desk.kafka.reader(topics.BOOKING_COMMAND_RESULTS) as reader:
        records = await reader.wait_for(answer_to, count=count, timeout=30, what=f"{count} answers to {request_id}")
    return [{"type": envelope_of(r).type, **envelope_of(r).payload} for r in sorted(records, key=lambda r: (r.timestamp, r.offset))]


async def send(desk, office, command) -> None:
    await desk.kafka.publish_envelope(envelope(command, office.id))


async def open_slots(desk, office, service: str, starts: list[datetime]) -> list[dict]:
    return [await desk.post(office, "/slots", {"service": service, "starts_at": s.isoformat(),
                                               "ends_at": (s + timedelta(minutes=45)).isoformat()}, status=201) for s in starts]


async def test_a_contact_change_at_check_in_is_applied_published_and_in_the_customers_and_bookings_log(desk):
    office = await desk.tenant()
    booking = await desk.book(office)
    request = uuid.uuid4()
    change = ChangeCustomerContact(request_id=request, customer_id=booking["customer_id"], booking_id=booking["id"],
                                   phone="070-999 88 77", email="asa@example.se", preferred_channel="email")
    await send(desk, office, change)
    await send(desk, office, change)  # the same request again: applied once, answered alike
    first, again = await answers(desk, office, request, count=2)
    assert first["type"] == again["type"] == "booking.command-applied" and first["customer_id"] == booking["customer_id"]

    [updated] = await desk.published(office, topics.CUSTOMER_UPDATED, "customer.updated",
                                     where=lambda p: p["request_id"] == str(request))
    assert sorted(updated["changed_fields"]) == ["email", "phone", "preferred_channel"]
    assert (updated["actor"], updated["customer"]["phone"], updated["customer"]["preferred_channel"]) == ("check-in", "+46709998877", "email")
    card = await desk.get(office, f"/customers/{booking['customer_id']}")
    assert (card["phone"], card["email"], card["preferred_channel"]) == ("+46709998877", "asa@example.se", "email")
    [entry] = [e for e in card["communication_log"] if e["kind"] == "contact-change"]
    assert entry["booking_id"] == booking["id"] and "at check-in" in entry["text"]
    assert entry["details"]["changed"]["phone"] == "+46709998877"
    assert [e["kind"] for e in await desk.get(office, f"/bookings/{booking['id']}/communication-log")] == ["contact-change"]


async def test_a_contact_change_for_an_unknown_customer_or_with_a_bad_number_is_refused_and_changes_nothing(desk):
    office = await desk.tenant()
    booking = await desk.book(office)
    nobody, bad = uuid.uuid4(), uuid.uuid4()
    await send(desk, office, ChangeCustomerContact(request_id=nobody, customer_id=uuid.uuid4(), phone="+46701112233"))
    await send(desk, office, ChangeCustomerContact(request_id=bad, customer_id=booking["customer_id"], phone="+46 12"))
    [unknown] = await answers(desk, office, nobody)
    [invalid] = await answers(desk, office, bad)
    assert (unknown["type"], unknown["reason_code"]) == ("booking.command-refused", "not-found")
    assert (invalid["type"], invalid["reason_code"]) == ("booking.command-refused", "invalid") and "+46 12" in invalid["reason"]
    assert (await desk.get(office, f"/customers/{booking['customer_id']}"))["phone"] == "+46701234567"


async def test_a_work_line_from_check_in_is_added_to_the_booking_once(desk):
    office = await desk.tenant()
    booking = await desk.book(office)
    line = WorkLine(line_id=uuid.uuid4(), service="wipers", description="Nya torkarblad", price_incl_vat="299.00",
                    origin="check-in-optional-service")
    first, repeat = uuid.uuid4(), uuid.uuid4()
    await send(desk, office, AddWorkLine(request_id=first, booking_id=uuid.UUID(booking["id"]), line=line))
    await send(desk, office, AddWorkLine(request_id=repeat, booking_id=uuid.UUID(booking["id"]), line=line))  # same line, new request
    await answers(desk, office, first)
    [applied] = await answers(desk, office, repeat)
    assert applied["type"] == "booking.command-applied" and applied["booking_id"] == booking["id"]
    lines = (await desk.get(office, f"/bookings/{booking['id']}"))["work_lines"]
    assert [(w["line_id"], w["origin"], w["price_incl_vat"]) for w in lines] == [(str(line.line_id), "check-in-optional-service", "299.00")]

    await desk.post(office, f"/bookings/{booking['id']}/transitions/cancel")
    late = uuid.uuid4()
    await send(desk, office, AddWorkLine(request_id=late, booking_id=uuid.UUID(booking["id"]),
                                         line=line.model_copy(update={"line_id": uuid.uuid4()})))
    [refused] = await answers(desk, office, late)
    assert (refused["type"], refused["reason_code"]) == ("booking.command-refused", "not-allowed")


async def test_recall_auto_books_the_first_free_slot_in_the_window_following_the_tenants_flow(desk):
    office = await desk.tenant(flow="confirmation")
    customer = await desk.client.post(office.url("/customers"), headers=office.headers,
                                      json={"name": "Åsa Öberg", "phone": "+46701234567", "language": "sv"})
    customer_id = customer.json()["id"]
    outside, first, second = await open_slots(desk, office, "klippning", [SOON + timedelta(days=40), SOON + timedelta(days=3),
                                                                           SOON + timedelta(days=5)])
    request = uuid.uuid4()
    await send(desk, office, AutoBook(request_id=request, customer_id=customer_id, service="klippning", search_from=SOON,
                                      search_until=SOON + timedelta(days=30), source_ref="recall-42"))
    [applied] = await answers(desk, office, request)
    assert applied["type"] == "booking.command-applied" and applied["starts_at"] == first["starts_at"].replace("+00:00", "Z")
    booking = await desk.get(office, f"/bookings/{applied['booking_id']}")
    assert (booking["slot_id"], booking["state"], booking["customer_id"]) == (first["id"], "unconfirmed", customer_id)
    assert (booking["source"], booking["source_ref"], booking["via"]) == ("recall-auto-book", "recall-42", "via recall auto-book")
    [created] = await desk.published(office, topics.BOOKING_CREATED, "booking.created", booking_id=applied["booking_id"])
    assert (created["source"], created["source_ref"]) == ("recall-auto-book", "recall-42")
    [notice] = await desk.published(office, topics.NOTIFICATION_REQUESTS, "notification.send", booking_id=applied["booking_id"])
    assert notice["template_key"] == "booking-notice" and notice["data"]["needs_confirmation"] is True

    none_left = uuid.uuid4()
    await desk.post(office, "/bookings", {"customer_id": customer_id, "service": "klippning", "slot_id": second["id"]}, status=201)
    await send(desk, office, AutoBook(request_id=none_left, customer_id=customer_id, service="klippning", search_from=SOON,
                                      search_until=SOON + timedelta(days=30)))
    [refused] = await answers(desk, office, none_left)
    assert (refused["type"], refused["reason_code"]) == ("booking.command-refused", "no-free-slot")
    assert outside["id"] in [s["id"] for s in await desk.get(office, "/slots", service="klippning")]  # outside the window: untouched


async def test_two_auto_book_requests_at_once_never_get_the_same_slot(service, settings, desk):
    runtime, _ = service
    deps = handlers.Deps(link_secret=settings.link_secret, public_url="http://booking.test")
    office = await desk.tenant()
    ids = []
    for name in ("Åsa", "Bo", "Cia"):
        response = await desk.client.post(office.url("/customers"), headers=office.headers, json={"name": name, "phone": "+46701234567"})
        ids.append(response.json()["id"])
    slots = await open_slots(desk, office, "klippning", [SOON + timedelta(hours=1), SOON + timedelta(hours=2)])
    first_holds_its_slot, second_done = asyncio.Event(), asyncio.Event()

    async def request(customer_id: str, hold: bool) -> None:
        command = AutoBook(request_id=uuid.uuid4(), customer_id=customer_id, service="klippning", search_from=SOON,
                           search_until=SOON + timedelta(days=1))
        async with runtime.db.transaction() as session:
            await handlers.auto_book(session, command, envelope(command, office.id), deps=deps)
            if hold:  # keep the claimed slot locked, uncommitted, while the other request runs
                first_holds_its_slot.set()
                await asyncio.wait_for(second_done.wait(), timeout=20)

    async def second() -> None:
        await first_holds_its_slot.wait()
        await asyncio.wait_for(request(ids[1], hold=False), timeout=10)  # SKIP LOCKED: it does not wait for the first
        second_done.set()

    await asyncio.gather(request(ids[0], hold=True), second())
    await request(ids[2], hold=False)

    booked = await desk.get(office, "/bookings")
    assert sorted(b["slot_id"] for b in booked) == sorted(s["id"] for s in slots)  # one booking per slot
    assert {b["customer_id"] for b in booked} == set(ids[:2])
    refusals = await desk.published(office, topics.BOOKING_COMMAND_RESULTS, "booking.command-refused",
                                    where=lambda p: p["customer_id"] == ids[2])
    assert refusals[0]["reason_code"] == "no-free-slot"


async def test_a_command_for_a_tenant_nobody_set_up_is_dead_lettered(desk, kafka):
    stranger = new_tenant()
    command = AutoBook(request_id=uuid.uuid4(), customer_id=uuid.uuid4(), service="klippning", search_from=SOON,
                       search_until=SOON + timedelta(days=1))
    env = envelope(command, stranger)
    await kafka.publish_envelope(env)
    async with kafka.reader(topics.DEAD_LETTER) as reader:
        [dead] = await reader.wait_for(lambda r: header(r, "event-id") == str(env.event_id), timeout=30, what="the dead letter")
    assert header(dead, "dead-letter-reason").split(":")[0] == "unknown-tenant"
