"""C4–C7 from the receptionist's side: the day's list pins an appointment whose customer accepted
a service or left a comment until every item is handled; handling a comment opens an
intervention (added or dropped, handled either way); a service set to convert becomes a work
line and leaves the check-in section; a comment is shared with mechanics; once every item is
handled the appointment shows only on its date, marked answered. Every route is tenant-isolated."""
import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from bookflow_devstack.testing import staff_headers, wait_until

AMSTERDAM = ZoneInfo("Europe/Amsterdam")


async def answered_booking(workshop, garage, media, *, starts_in=timedelta(days=14), services=None, comment=True):
    booking = await workshop.book(garage, starts_in=starts_in)
    link = await workshop.checkin_link(garage, booking)
    if comment:
        added = await workshop.client.post(f"{link}/comments", data={"subject": "Lampje motorstoring",
                                                                     "description": "Brandt sinds vorige week oranje."},
                                           files=[("files", ("dashboard.jpg", media.jpeg(), "image/jpeg"))])
        assert added.status_code == 303
    sent = await workshop.client.post(f"{link}/answer", data=services if services is not None else {
        "service:carwash": "accept", "service:interior": "contact", "service:wipers": "accept"})
    assert sent.status_code == 303
    return booking


async def day(workshop, garage, on: str, headers=None) -> list[dict]:
    response = await workshop.client.get(garage.url("/appointments"), params={"day": on}, headers=headers or garage.desk)
    assert response.status_code == 200, response.text
    return response.json()


async def handle(workshop, garage, booking_id, item_id, action, intervention=None, headers=None, status=200):
    body = {"action": action, **({"intervention": intervention} if intervention else {})}
    response = await workshop.client.post(garage.url(f"/appointments/{booking_id}/items/{item_id}/handle"), json=body,
                                          headers=headers or garage.desk)
    assert response.status_code == status, response.text
    return response.json()


async def test_an_answered_appointment_is_pinned_on_every_day_until_its_items_are_handled_then_marked_answered(workshop, media):
    garage = await workshop.garage()
    visit = datetime.now(AMSTERDAM).replace(hour=10, minute=0, second=0, microsecond=0) + timedelta(days=10)
    quiet = await workshop.book(garage, starts_at=(visit + timedelta(hours=2)).astimezone(UTC))
    busy = await answered_booking(workshop, garage, media, starts_in=visit.astimezone(UTC) - datetime.now(UTC) + timedelta(hours=4))
    visit_day, other_day = visit.date().isoformat(), (visit.date() - timedelta(days=3)).isoformat()

    on_its_day = await day(workshop, garage, visit_day)
    assert [line["booking_id"] for line in on_its_day] == [str(busy.booking_id), str(quiet.booking_id)]  # pinned first
    assert on_its_day[0]["pinned"] and not on_its_day[0]["answered"] and on_its_day[0]["checkin"]["unhandled"] == 4
    assert not on_its_day[1]["pinned"] and on_its_day[1]["checkin"]["items"] == 0
    elsewhere = await day(workshop, garage, other_day)
    assert [(line["booking_id"], line["on_day"]) for line in elsewhere] == [(str(busy.booking_id), False)]

    view = await workshop.appointment(garage, busy.booking_id)
    for item in view["items"]:
        action = "handled" if item["kind"] == "contact-request" else "drop-intervention"
        await handle(workshop, garage, busy.booking_id, item["item_id"], action)
    assert await day(workshop, garage, other_day) == []
    [first, line] = await day(workshop, garage, visit_day)  # by start again, no longer pinned
    assert first["booking_id"] == str(quiet.booking_id) and not first["answered"]
    assert line["booking_id"] == str(busy.booking_id) and line["answered"] and not line["pinned"]
    assert line["customer_name"] == "Jan de Vries" and line["subject"]["details"]["registration"] == "GX-123-B"


async def test_handling_a_comment_adds_the_intervention_it_opens_or_drops_it_and_both_count_as_handled(workshop, media):
    garage = await workshop.garage()
    booking = await answered_booking(workshop, garage, media, services={})
    view = await workshop.appointment(garage, booking.booking_id)
    [item] = view["items"]
    assert item["kind"] == "comment" and item["convert_to_intervention"]
    assert item["intervention_draft"] == {"service": "intervention", "description": "Lampje motorstoring",
                                          "remark": "Brandt sinds vorige week oranje.", "price_incl_vat": None, "vat_rate": None}
    handled = await handle(workshop, garage, booking.booking_id, item["item_id"], "add-intervention",
                           {"service": "diagnosis", "description": "Storing uitlezen", "price_incl_vat": "65.00"})
    assert handled["state"] == "handled" and handled["outcome"] == "converted-to-intervention" and handled["handled_by"] == "staff:anna"

    [command] = await workshop.published(garage, "booking.commands", "booking.add-work-line", booking_id=booking.booking_id)
    assert command["line"]["origin"] == "check-in-intervention" and command["line"]["description"] == "Storing uitlezen"
    assert command["request_id"] == command["line"]["line_id"] == handled["work_line"]["line_id"]
    [event] = await workshop.published(garage, "checkin.events", "checkin.item-handled", booking_id=booking.booking_id)
    assert (event["kind"], event["outcome"], event["all_handled"], event["actor"]) == ("comment", "converted-to-intervention", True, "staff:anna")
    assert event["work_line_id"] == command["line"]["line_id"]
    await handle(workshop, garage, booking.booking_id, item["item_id"], "drop-intervention", status=409)

    await workshop.answer(garage, command["request_id"], "booking.add-work-line")
    applied = await wait_until(lambda: _line_applied(workshop, garage, booking.booking_id), what="the work line applied")
    assert [line["description"] for line in applied["work_lines"]][-1] == "Storing uitlezen"
    page = await workshop.client.get(await _link(workshop, garage, booking))
    assert "Storing uitlezen" in page.text

    dropped_booking = await answered_booking(workshop, garage, media, services={})
    [dropped] = (await workshop.appointment(garage, dropped_booking.booking_id))["items"]
    await handle(workshop, garage, dropped_booking.booking_id, dropped["item_id"], "handled", status=409)  # a comment opens the window
    result = await handle(workshop, garage, dropped_booking.booking_id, dropped["item_id"], "drop-intervention")
    assert result["outcome"] == "intervention-dropped" and result["work_line"] is None
    [event] = await workshop.published(garage, "checkin.events", "checkin.item-handled", booking_id=dropped_booking.booking_id)
    assert event["outcome"] == "intervention-dropped"
    assert await workshop.all_published(garage, "booking.commands", "booking.add-work-line", dropped_booking.booking_id) == []


async def _line_applied(workshop, garage, booking_id):
    view = await workshop.appointment(garage, booking_id)
    return view if view["items"][0]["work_line"]["status"] == "applied" and len(view["work_lines"]) == 3 else None


async def _link(workshop, garage, booking):
    [sent] = await workshop.published(garage, "notification.requests", "notification.send", booking_id=booking.booking_id)
    return sent["data"]["checkin_url"].removeprefix("http://checkin.test")


async def test_an_accepted_service_set_to_convert_becomes_a_work_line_and_leaves_the_check_in_section(workshop, media):
    garage = await workshop.garage(convert=("wipers",))
    booking = await answered_booking(workshop, garage, media, comment=False)
    items = {i["service"]: i for i in (await workshop.appointment(garage, booking.booking_id))["items"]}
    assert items["wipers"]["convert_to_intervention"] and not items["carwash"]["convert_to_intervention"]
    assert items["wipers"]["intervention_draft"]["price_incl_vat"] == "29.50"

    converted = await handle(workshop, garage, booking.booking_id, items["wipers"]["item_id"], "add-intervention")
    assert converted["state"] == "converted"
    [command] = await workshop.published(garage, "booking.commands", "booking.add-work-line", booking_id=booking.booking_id)
    line = command["line"]
    assert (line["origin"], line["service"], line["description"], line["price_incl_vat"], line["vat_rate"]) == (
        "check-in-optional-service", "wipers", "Nieuwe wisserbladen voor.", "29.50", "0.21")
    view = await workshop.appointment(garage, booking.booking_id)
    assert "wipers" not in [i["service"] for i in view["items"]] and [i["service"] for i in view["converted"]] == ["wipers"]

    await handle(workshop, garage, booking.booking_id, items["carwash"]["item_id"], "handled")
    await handle(workshop, garage, booking.booking_id, items["interior"]["item_id"], "add-intervention", status=409)
    last = await handle(workshop, garage, booking.booking_id, items["interior"]["item_id"], "handled")
    assert last["outcome"] == "handled"
    events = await workshop.published(garage, "checkin.events", "checkin.item-handled", booking_id=booking.booking_id, count=3)
    assert [(e["service"], e["outcome"], e["all_handled"]) for e in events] == [
        ("wipers", "converted-to-intervention", False), ("carwash", "handled", False), ("interior", "handled", True)]
    await workshop.answer(garage, command["request_id"], "booking.add-work-line", refused="the booking is completed")
    refused = await wait_until(lambda: _converted_status(workshop, garage, booking.booking_id, "refused"), what="the refusal")
    assert refused["reason"] == "the booking is completed"


async def _converted_status(workshop, garage, booking_id, status):
    view = await workshop.appointment(garage, booking_id)
    request = view["converted"][0]["work_line"]
    return request if request["status"] == status else None


async def test_a_comment_shared_with_mechanics_goes_to_booking_and_mechanics_can_open_its_files(workshop, media):
    garage = await workshop.garage()
    booking = await answered_booking(workshop, garage, media, services={})
    [kept] = (await workshop.appointment(garage, booking.booking_id))["comments"]
    mechanic = staff_headers(garage.id, "technician", subject="piet")
    assert (await workshop.appointment(garage, booking.booking_id, headers=mechanic))["comments"] == []
    file_path = kept["files"][0]["url"].removeprefix("http://checkin.test")
    assert (await workshop.client.get(file_path, headers=mechanic)).status_code == 404

    share_url = garage.url(f"/appointments/{booking.booking_id}/comments/{kept['comment_id']}/visible-to-mechanics")
    assert (await workshop.client.put(share_url, json={"visible": True}, headers=mechanic)).status_code == 403
    assert (await workshop.client.get(garage.url("/appointments"), headers=mechanic)).status_code == 403  # reception's list
    planner = staff_headers(garage.id, "planner", subject="joke")
    assert (await workshop.client.get(garage.url("/appointments"), headers=planner)).status_code == 200
    shared = await workshop.client.put(share_url, json={"visible": True}, headers=garage.desk)
    assert shared.status_code == 200 and shared.json()["visible_to_mechanics"] is True
    [event] = await workshop.published(garage, "checkin.events", "checkin.comment-shared", booking_id=booking.booking_id)
    assert (event["visible"], event["subject"], event["description"]) == (True, "Lampje motorstoring", "Brandt sinds vorige week oranje.")
    [shared_file] = event["files"]
    assert (shared_file["name"], shared_file["content_type"]) == ("dashboard.jpg", "image/jpeg")
    assert shared_file["url"] == kept["files"][0]["url"]

    seen = await workshop.appointment(garage, booking.booking_id, headers=mechanic)
    assert [c["subject"] for c in seen["comments"]] == ["Lampje motorstoring"] and seen["items"] == []
    opened = await workshop.client.get(file_path, headers=mechanic)
    assert opened.status_code == 200 and opened.content == media.jpeg()

    await workshop.client.put(share_url, json={"visible": True}, headers=garage.desk)  # already shared: no second event
    hidden = await workshop.client.put(share_url, json={"visible": False}, headers=garage.desk)
    assert hidden.json()["visible_to_mechanics"] is False
    events = await workshop.published(garage, "checkin.events", "checkin.comment-shared", booking_id=booking.booking_id, count=2)
    assert [e["visible"] for e in events] == [True, False]
    assert (await workshop.client.get(file_path, headers=mechanic)).status_code == 404


async def test_another_garages_staff_find_nothing_of_this_garage(workshop, media):
    garage = await workshop.garage()
    booking = await answered_booking(workshop, garage, media)
    view = await workshop.appointment(garage, booking.booking_id)
    item, kept = view["items"][0], view["comments"][0]
    rival = await workshop.garage()
    as_rival = rival.desk
    b = booking.booking_id
    for method, path, body in (
        ("GET", f"/appointments/{b}", None),
        ("POST", f"/appointments/{b}/items/{item['item_id']}/handle", {"action": "handled"}),
        ("PUT", f"/appointments/{b}/comments/{kept['comment_id']}/visible-to-mechanics", {"visible": True}),
        ("GET", f"/files/{kept['files'][0]['file_id']}", None),
    ):
        own_path = rival.url(path)  # the rival's own tenant in the path, this garage's ids
        assert (await workshop.client.request(method, own_path, json=body, headers=as_rival)).status_code == 404, path
        foreign_path = garage.url(path)  # this garage's path with the rival's token
        assert (await workshop.client.request(method, foreign_path, json=body, headers=as_rival)).status_code == 404, path
    assert all(line["booking_id"] != str(b) for line in await day(workshop, rival, booking.starts_at.date().isoformat()))
    unknown = await workshop.client.post(garage.url(f"/appointments/{b}/items/{uuid.uuid4()}/handle"), json={"action": "handled"},
                                         headers=garage.desk)
    assert unknown.status_code == 404 and unknown.json()["code"] == "not-found"
    assert (await workshop.client.get(garage.url("/appointments"), params={"day": "1999-01-01"}, headers=garage.desk)).status_code == 422
    assert (await workshop.appointment(garage, b))["items"][0]["state"] == "unhandled"


async def test_the_service_documents_its_topics_and_routes(workshop):
    asyncapi = (await workshop.client.get("/asyncapi.json")).json()
    addresses = {channel["address"] for channel in asyncapi["channels"].values()}
    assert {"booking.created", "order.transitioned", "reminder.due", "tenant.updated", "customer.updated", "booking.command-results",
            "timer.requests", "notification.requests", "booking.commands", "checkin.events"} <= addresses
    openapi = (await workshop.client.get("/openapi.json")).json()
    assert {"/tenants/{tenant_id}/appointments", "/tenants/{tenant_id}/files/{file_id}", "/checkin/{token}"} <= set(openapi["paths"])


async def test_without_a_day_the_list_holds_every_appointment_from_today_on(workshop):
    garage = await workshop.garage()
    past = await workshop.book(garage, starts_in=timedelta(days=-2))
    soon, later = await workshop.book(garage, starts_in=timedelta(days=2)), await workshop.book(garage, starts_in=timedelta(days=40))
    listed = (await workshop.client.get(garage.url("/appointments"), headers=garage.desk)).json()
    assert [line["booking_id"] for line in listed] == [str(soon.booking_id), str(later.booking_id)]
    assert str(past.booking_id) not in {line["booking_id"] for line in listed}


async def test_bookings_answer_to_a_work_line_waits_for_the_receptionist_handling_the_same_appointment(workshop, service, media):
    """Booking's answer and a receptionist's handling of the same appointment take their locks in
    one order (the booking, then its items): the answer waits, neither fails with a deadlock."""
    from sqlalchemy import text

    from bookflow_checkin import storage

    runtime = service[0]
    garage = await workshop.garage(convert=("wipers",))
    booking = await answered_booking(workshop, garage, media, comment=False)
    items = {i["service"]: i for i in (await workshop.appointment(garage, booking.booking_id))["items"]}
    await handle(workshop, garage, booking.booking_id, items["wipers"]["item_id"], "add-intervention")
    [command] = await workshop.published(garage, "booking.commands", "booking.add-work-line", booking_id=booking.booking_id)

    async with runtime.db.transaction() as receptionist:  # as handle_item does: the booking, then its items
        await storage.lock_booking(receptionist, booking.booking_id)
        await workshop.answer(garage, command["request_id"], "booking.add-work-line")

        async def answer_waiting() -> bool:
            async with runtime.db.transaction() as probe:
                return bool((await probe.execute(text(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"))).scalar())

        await wait_until(answer_waiting, what="booking's answer waiting for the appointment")
        # The waiting answer holds none of the appointment's items (it held one, and deadlocked).
        locked = await receptionist.execute(storage.items.select().where(storage.items.c.booking_id == booking.booking_id)
                                            .with_for_update(nowait=True))
        assert len(locked.all()) == 3
    applied = await wait_until(lambda: _converted_status(workshop, garage, booking.booking_id, "applied"), what="the answer applied")
    assert applied["status"] == "applied"
