"""Recall (flow E, seed 004 "Genindkald") on the real broker and PostgreSQL: a dental clinic's
templates, steps, criteria and actions, auto-booking with its fallbacks, the recall list with
markers, till sales and the run offset. The tests play the booking service and the tills by
publishing their events, drive the evaluation with staff's "evaluate now", and move the
service's clock a day at a time."""
from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import pytest
from prometheus_client import REGISTRY

from bookflow_contracts import BookingCommandApplied, BookingCommandRefused, SaleLine, TillSaleRecorded, topics
from bookflow_devstack.testing import staff_headers, wait_until
from bookflow_recall import MIGRATIONS
from bookflow_recall.domain.calendar import add
from bookflow_recall.settings import RecallSettings
from bookflow_runtime import development
from bookflow_runtime.auth import read_link

ZONE = ZoneInfo("Europe/Copenhagen")
SERVICE = "kontrol"


@pytest.fixture(scope="module")
def settings(make_database, kafka) -> RecallSettings:
    """The evaluation runs only when a test asks ("evaluate now"), so each test sees its own steps."""
    return RecallSettings(database_url=make_database("recall", MIGRATIONS), kafka_bootstrap_servers=kafka.bootstrap_servers,
                          evaluate_in_background=False, book_again_poll_seconds=0.2)


@pytest.fixture
async def clinic(open_salon, clock):
    salon = await open_salon(zone="Europe/Copenhagen")
    await salon.call("PUT", "/recall-settings", json={"enabled": True, "flag_missing_recall": True, "run_offset_days": 0})
    salon.clock = clock
    return salon


def today(clinic) -> date:
    return clinic.clock().astimezone(ZONE).date()


def at_noon(day: date) -> datetime:
    return datetime.combine(day, datetime.min.time(), ZONE) + timedelta(hours=12)


def go_to_noon(clinic, day: date) -> None:
    """Move the service's clock to noon of `day` in the clinic's zone (so "earlier that day" is past)."""
    clinic.clock.shift += at_noon(day) - clinic.clock()


def handled(consumer: str, message_type: str) -> float:
    """Messages of a type the in-process service's consumer has handled."""
    return REGISTRY.get_sample_value("bookflow_messages_handled_total", {"consumer": f"recall.{consumer}", "type": message_type}) or 0.0


def step(after_days: int, *actions: dict, **criteria: str) -> dict:
    """`step(14, sms(), future="end", none="act")`."""
    return {"after_days": after_days, "actions": list(actions),
            "criteria": [{"when": when.replace("_", "-"), "end_course": how == "end"} for when, how in criteria.items()]}


def sms(**kw) -> dict:
    return {"kind": "send", "channel": "sms", **kw}


async def template(clinic, *steps: dict, **kw) -> dict:
    body = {"name": "Kontrol hvert halve år", "service": SERVICE, "tolerance_days": 0, "frequency": 6, "frequency_unit": "months",
            "times": "unlimited", "steps": list(steps), **kw}
    return await clinic.call("POST", "/recall-templates", json=body, status=201)


async def patient(clinic, *, number: str | None = None):
    """A customer recall has taken in (its contact details are on what recall sends)."""
    before = handled("customers", "customer.updated")
    customer = await clinic.customer(consent=True, name="Mette Hansen", phone="+4520123456", email="mette@example.dk", number=number)
    await wait_until(lambda: handled("customers", "customer.updated") > before, what="the customer in recall")
    return customer


async def recalled(clinic, customer, tpl: dict, recall_date: date) -> dict:
    card = await clinic.call("POST", f"/customers/{customer.customer_id}/recalls",
                             json={"template_id": tpl["id"], "recall_date": recall_date.isoformat()}, status=201)
    return next(r for r in card["recalls"] if r["template_id"] == tpl["id"] and r["status"] == "active")


async def evaluate(clinic) -> dict:
    return await clinic.call("POST", "/recall/evaluate")


async def card(clinic, customer) -> dict:
    return await clinic.call("GET", f"/customers/{customer.customer_id}/recalls")


async def recall_of(clinic, customer, recall_id: str) -> dict:
    return next(r for r in (await card(clinic, customer))["recalls"] if r["id"] == recall_id)


async def known(clinic, booking) -> None:
    await wait_until(lambda: clinic.knows(booking.booking_id, booking.customer.customer_id), what="the booking in recall's history")


def requests_for(recall_id: str):
    return lambda e: e.type == "notification.send" and e.payload.get("regarding") == f"recall:{recall_id}"


# --- E1, E6 ----------------------------------------------------------------------------------


async def test_staff_activate_a_recall_on_a_customer_and_customers_without_one_are_flagged(clinic):
    tpl = await template(clinic, step(0, sms()))
    had, recalled_one, never = await patient(clinic), await patient(clinic), await patient(clinic)
    for customer in (had, recalled_one):
        await known(clinic, await clinic.booking(customer, service=SERVICE, state="completed",
                                                 starts_at=clinic.clock() - timedelta(days=200)))
    other = await clinic.booking(never, service="tandrens", state="completed")
    await known(clinic, other)
    recall = await recalled(clinic, recalled_one, tpl, today(clinic) + timedelta(days=30))
    assert (recall["recall_date"], recall["course"], recall["status"]) == ((today(clinic) + timedelta(days=30)).isoformat(), 1, "active")
    assert recall["template_name"] == "Kontrol hvert halve år" and recall["service"] == SERVICE

    missing = await clinic.call("GET", "/customers-missing-recall")
    assert [m["customer_id"] for m in missing] == [str(had.customer_id)] and missing[0]["services"] == [SERVICE]
    assert (await card(clinic, had))["missing_recall"] is True
    assert (await card(clinic, recalled_one))["missing_recall"] is False
    assert (await card(clinic, never))["missing_recall"] is False  # never had a recalled service

    await clinic.call("PUT", "/recall-settings", json={"enabled": True, "flag_missing_recall": False})
    assert (await card(clinic, had))["missing_recall"] is False  # the flag is shown only when the clinic wants it

    await clinic.call("PUT", "/recall-settings", json={"enabled": False})
    refused = await clinic.call("POST", "/recall/evaluate", status=409)
    assert "not enabled" in refused["detail"]


async def test_activating_again_moves_the_date_and_starts_the_course_over(clinic):
    tpl = await template(clinic, step(0, sms()), step(7, sms()))
    customer = await patient(clinic)
    first = await recalled(clinic, customer, tpl, today(clinic))
    await evaluate(clinic)
    again = await recalled(clinic, customer, tpl, today(clinic) + timedelta(days=60))
    assert again["id"] == first["id"] and again["course"] == 2 and again["recall_date"] == (today(clinic) + timedelta(days=60)).isoformat()
    assert again["next_step_day"] == again["recall_date"]
    ended = await clinic.call("DELETE", f"/recalls/{first['id']}")
    assert ended["recalls"][0]["status"] == "ended" and ended["recalls"][0]["ended_reason"].startswith("ended by staff:")
    assert (await evaluate(clinic))["evaluated"] == 0


# --- E2 ----------------------------------------------------------------------------------------


async def test_the_run_offset_picks_a_recall_up_that_many_days_before_its_date(clinic, published):
    await clinic.call("PUT", "/recall-settings", json={"enabled": True, "run_offset_days": 10})
    tpl = await template(clinic, step(0, {"kind": "send", "channel": "letter"}))
    customer = await patient(clinic)
    recall = await recalled(clinic, customer, tpl, today(clinic) + timedelta(days=11))
    assert (await evaluate(clinic))["evaluated"] == 0  # 11 days ahead: tomorrow is 10 days before
    clinic.clock.shift += timedelta(days=1)
    result = await evaluate(clinic)
    assert result == {"evaluated": 1, "outcomes": {"acted": 1}, "actions": {"send": 1}}
    [letter] = await published.wait(topics.NOTIFICATION_REQUESTS, requests_for(recall["id"]), what="the recall letter")
    assert letter.payload["channels"] == ["letter"] and letter.payload["data"]["recall_date"] == recall["recall_date"]


# --- E3 ----------------------------------------------------------------------------------------


async def test_templates_are_created_edited_and_deleted_and_bad_ones_refused_with_reasons(clinic):
    tpl = await template(clinic, step(0, sms()), step(14, sms()), tolerance_days=90, times=5, article_numbers=["T-200"])
    assert (tpl["tolerance_days"], tpl["times"], tpl["article_numbers"], [s["after_days"] for s in tpl["steps"]]) == (90, 5, ["T-200"], [0, 14])
    customer = await patient(clinic)
    recall = await recalled(clinic, customer, tpl, today(clinic) + timedelta(days=3))
    await evaluate(clinic)  # nothing due yet

    edited = {**{k: tpl[k] for k in ("service", "tolerance_days", "frequency", "frequency_unit", "article_numbers")},
              "name": "Kontrol", "times": "once", "steps": [step(2, sms()), step(20, {"kind": "recall-list", "marker": "Ring"})]}
    changed = await clinic.call("PUT", f"/recall-templates/{tpl['id']}", json=edited)
    assert (changed["name"], changed["times"], [s["after_days"] for s in changed["steps"]]) == ("Kontrol", "once", [2, 20])
    assert (await recall_of(clinic, customer, recall["id"]))["next_step_day"] == (today(clinic) + timedelta(days=5)).isoformat()
    assert [t["name"] for t in await clinic.call("GET", "/recall-templates")] == ["Kontrol"]

    assert await clinic.call("DELETE", f"/recall-templates/{tpl['id']}") == {"recalls_ended": 1}
    assert (await recall_of(clinic, customer, recall["id"]))["status"] == "ended"
    await clinic.call("GET", f"/recall-templates/{tpl['id']}", status=404)

    bad = await clinic.call("POST", "/recall-templates", status=422, json={
        "name": "", "service": SERVICE, "frequency": 0, "steps": [
            {"after_days": 0, "actions": [{"kind": "send"}, {"kind": "auto-book"}, {"kind": "send", "channel": "sms", "template_key": "Bad Key"}]},
            {"after_days": 0, "actions": []}]})
    fields = {e["field"] for e in bad["errors"]}
    assert {"body.name", "body.frequency", "body.steps.0.actions.0", "body.steps.0.actions.1", "body.steps.0.actions.2.template_key"} <= fields
    assert any("channel" in e["message"] for e in bad["errors"]) and any("fallback" in e["message"] for e in bad["errors"])


async def test_a_completed_visit_within_the_tolerance_means_no_recall_and_the_date_moves_by_the_frequency(clinic, published):
    tpl = await template(clinic, step(0, sms()), tolerance_days=90, frequency=6, frequency_unit="months")
    came, due = await patient(clinic), await patient(clinic)
    recall_date = today(clinic)
    await known(clinic, await clinic.booking(came, service=SERVICE, state="completed", starts_at=at_noon(recall_date - timedelta(days=60))))
    await known(clinic, await clinic.booking(due, service=SERVICE, state="completed", starts_at=at_noon(recall_date - timedelta(days=120))))
    skipped, sent = await recalled(clinic, came, tpl, recall_date), await recalled(clinic, due, tpl, recall_date)

    assert (await evaluate(clinic))["outcomes"] == {"skipped": 1, "acted": 1}
    after = await recall_of(clinic, came, skipped["id"])
    assert [(s["outcome"], s["criterion"]) for s in after["steps"]] == [("skipped", "completed")] and after["actions"] == []
    assert after["recall_date"] == add(recall_date, 6, "months").isoformat()
    assert (after["course"], after["courses_done"], after["status"]) == (2, 1, "active")
    await published.wait(topics.NOTIFICATION_REQUESTS, requests_for(sent["id"]), what="the other patient's SMS")
    assert await published.all(topics.NOTIFICATION_REQUESTS, requests_for(skipped["id"])) == []


async def test_the_course_runs_its_number_of_times_then_the_recall_is_finished(clinic):
    twice = await template(clinic, step(0, sms()), frequency=10, frequency_unit="days", times=2)
    once = await template(clinic, step(0, sms()), frequency=10, frequency_unit="days", times="once")
    forever = await template(clinic, step(0, sms()), frequency=10, frequency_unit="days", times="unlimited")
    customer = await patient(clinic)
    start = today(clinic)
    recalls = {name: await recalled(clinic, customer, tpl, start) for name, tpl in (("twice", twice), ("once", once), ("forever", forever))}
    for _ in range(3):
        await evaluate(clinic)
        clinic.clock.shift += timedelta(days=10)
    states = {name: await recall_of(clinic, customer, r["id"]) for name, r in recalls.items()}
    assert (states["once"]["status"], states["once"]["courses_done"]) == ("finished", 1)
    assert (states["twice"]["status"], states["twice"]["courses_done"]) == ("finished", 2)
    assert (states["forever"]["status"], states["forever"]["courses_done"]) == ("active", 3)
    assert states["forever"]["recall_date"] == (start + timedelta(days=30)).isoformat()
    assert [s["recall_date"] for s in states["twice"]["steps"]] == [start.isoformat(), (start + timedelta(days=10)).isoformat()]


# --- E4: criteria ------------------------------------------------------------------------------


async def test_each_criterion_can_end_the_course(clinic):
    tpl = await template(clinic, step(0, sms(), completed="end", future="end", no_show="end", deleted="end", none="end"))
    recall_date = today(clinic) + timedelta(days=1)
    cases = {"completed": "completed", "future": "booked", "no-show": "no-show", "deleted": "deleted", "none": None}
    recalls = {}
    for criterion, state in cases.items():
        customer = await patient(clinic)
        if state is not None:
            start = at_noon(recall_date + timedelta(days=20)) if criterion == "future" else at_noon(recall_date) - timedelta(hours=10)
            booking = await clinic.booking(customer, service=SERVICE, state="booked", starts_at=start)
            if state != "booked":
                await clinic.transition(booking, state)
            await wait_until(lambda: clinic.knows(booking.booking_id, customer.customer_id, state), what=f"the {state} booking")
        recalls[criterion] = (customer, await recalled(clinic, customer, tpl, recall_date))
    go_to_noon(clinic, recall_date)
    assert (await evaluate(clinic))["outcomes"] == {"ended": 5}
    for criterion, (customer, recall) in recalls.items():
        after = await recall_of(clinic, customer, recall["id"])
        assert [(s["outcome"], s["criterion"]) for s in after["steps"]] == [("ended", criterion)], criterion
        assert after["actions"] == [] and after["course"] == 2


async def test_criteria_that_match_let_the_step_act_and_none_matching_lets_it_pass(clinic, published):
    tpl = await template(clinic, step(0, sms(), no_show="act", future="end"), step(5, sms(), none="act"))
    missed, fine = await patient(clinic), await patient(clinic)
    recall_date = today(clinic)
    no_show = await clinic.booking(missed, service=SERVICE, state="booked", starts_at=at_noon(recall_date) - timedelta(hours=3))
    await clinic.transition(no_show, "no-show")
    await wait_until(lambda: clinic.knows(no_show.booking_id, missed.customer_id, "no-show"), what="the no-show")
    a, b = await recalled(clinic, missed, tpl, recall_date), await recalled(clinic, fine, tpl, recall_date)
    assert (await evaluate(clinic))["outcomes"] == {"acted": 1, "passed": 1}
    clinic.clock.shift += timedelta(days=5)
    assert (await evaluate(clinic))["outcomes"] == {"passed": 1, "acted": 1}
    assert [s["outcome"] for s in (await recall_of(clinic, missed, a["id"]))["steps"]] == ["acted", "passed"]
    assert [s["outcome"] for s in (await recall_of(clinic, fine, b["id"]))["steps"]] == ["passed", "acted"]
    assert len(await published.all(topics.NOTIFICATION_REQUESTS, requests_for(a["id"]))) == 1
    assert len(await published.all(topics.NOTIFICATION_REQUESTS, requests_for(b["id"]))) == 1


async def test_the_criteria_read_the_newest_state_of_a_booking_whatever_order_its_events_came_in(clinic):
    tpl = await template(clinic, step(0, sms(), future="end"))
    customer = await patient(clinic)
    booking_id = uuid.uuid4()
    future = at_noon(today(clinic) + timedelta(days=10))
    from bookflow_contracts import BookingCreated

    created = BookingCreated(booking_id=booking_id, customer=customer, service=SERVICE, starts_at=future,
                             ends_at=future + timedelta(hours=1), state="booked")
    await clinic.transition(created, "cancelled", version=1)  # the cancellation overtakes the creation
    await clinic.publish(created)
    await wait_until(lambda: clinic.knows(booking_id, customer.customer_id, "cancelled"), what="the booking, cancelled")
    recall = await recalled(clinic, customer, tpl, today(clinic))
    assert (await evaluate(clinic))["outcomes"] == {"passed": 1}  # not a future booking: it was cancelled
    assert (await recall_of(clinic, customer, recall["id"]))["steps"][0]["outcome"] == "passed"


# --- E4: actions -------------------------------------------------------------------------------


async def test_messages_go_by_sms_email_or_letter_with_the_steps_template_and_a_link_to_online_booking(clinic, published, settings):
    tpl = await template(clinic, step(0, sms(), {"kind": "send", "channel": "email", "template_key": "custom:indkaldelse"},
                                      {"kind": "send", "channel": "letter"}))
    customer = await patient(clinic)
    recall = await recalled(clinic, customer, tpl, today(clinic))
    assert (await evaluate(clinic))["actions"] == {"send": 3}
    messages = await published.wait(topics.NOTIFICATION_REQUESTS, requests_for(recall["id"]), count=3, what="three messages")
    by_channel = {m.payload["channels"][0]: m.payload for m in messages}
    assert set(by_channel) == {"sms", "email", "letter"}
    assert by_channel["email"]["template_key"] == "custom:indkaldelse" and by_channel["sms"]["template_key"] == "recall"
    sms_request = by_channel["sms"]
    assert sms_request["purpose"] == "marketing" and sms_request["customer"]["phone"] == "+4520123456"
    assert sms_request["data"]["service"] == SERVICE and sms_request["data"]["recall_date"] == recall["recall_date"]
    link = urlsplit(sms_request["data"]["booking_url"])
    assert f"{link.scheme}://{link.netloc}" == settings.booking_public_url
    assert read_link(development.LINK_SECRET, "online-booking", link.path.removeprefix("/book/"), 60) == {
        "t": clinic.id, "c": str(customer.customer_id), "s": SERVICE, "src": "recall", "r": recall["id"]}

    # D3/X4 for recall: the messages' statuses are kept on the actions
    await clinic.status(sms_request, "delivered")
    async def delivered():
        actions = (await recall_of(clinic, customer, recall["id"]))["actions"]
        return [a for a in actions if a["channel"] == "sms" and a["delivery_status"] == "delivered"]
    await wait_until(delivered, what="the SMS delivered")


async def test_a_message_waiting_for_approval_is_sent_when_staff_approve_it_and_never_when_they_reject_it(clinic, published):
    tpl = await template(clinic, step(0, sms(approval="staff")))
    yes, no = await patient(clinic), await patient(clinic)
    approved, rejected = await recalled(clinic, yes, tpl, today(clinic)), await recalled(clinic, no, tpl, today(clinic))
    assert (await evaluate(clinic))["actions"] == {"awaiting-approval": 2}
    waiting = {e["action"]["recall_id"]: e for e in await clinic.call("GET", "/recall-list")}
    assert {waiting[approved["id"]]["action"]["state"], waiting[rejected["id"]]["action"]["state"]} == {"awaiting-approval"}
    assert await published.all(topics.NOTIFICATION_REQUESTS, requests_for(approved["id"])) == []

    await clinic.call("POST", f"/recall-actions/{waiting[approved['id']]['action']['id']}/approve")
    await clinic.call("POST", f"/recall-actions/{waiting[rejected['id']]['action']['id']}/reject")
    await clinic.call("POST", f"/recall-actions/{waiting[rejected['id']]['action']['id']}/approve", status=409)
    await published.wait(topics.NOTIFICATION_REQUESTS, requests_for(approved["id"]), what="the approved SMS")
    assert await published.all(topics.NOTIFICATION_REQUESTS, requests_for(rejected["id"])) == []
    assert await clinic.call("GET", "/recall-list") == []


async def test_settings_and_templates_are_the_administrators_and_the_recall_list_the_desks(clinic):
    tpl = await template(clinic, step(0, {"kind": "recall-list", "marker": "Ring op"}))
    customer = await patient(clinic)
    planner, desk, mechanic = (staff_headers(clinic.id, role) for role in ("planner", "receptionist", "technician"))
    for headers in (planner, desk):
        assert (await clinic.client.put(f"/tenants/{clinic.id}/recall-settings", json={"enabled": False}, headers=headers)).status_code == 403
        assert (await clinic.client.post(f"/tenants/{clinic.id}/recall-templates", json={}, headers=headers)).status_code == 403
        assert (await clinic.client.delete(f"/tenants/{clinic.id}/recall-templates/{tpl['id']}", headers=headers)).status_code == 403
    activated = await clinic.client.post(f"/tenants/{clinic.id}/customers/{customer.customer_id}/recalls", headers=desk,
                                         json={"template_id": tpl["id"], "recall_date": today(clinic).isoformat()})
    assert activated.status_code == 201, activated.text
    assert (await clinic.client.post(f"/tenants/{clinic.id}/recall/evaluate", headers=planner)).json()["actions"] == {"recall-list": 1}
    [entry] = [e for e in (await clinic.client.get(f"/tenants/{clinic.id}/recall-list", headers=desk)).json()
               if e["action"]["customer_id"] == str(customer.customer_id)]
    assert (await clinic.client.get(f"/tenants/{clinic.id}/recall-list", headers=mechanic)).status_code == 403
    resolved = await clinic.client.post(f"/tenants/{clinic.id}/recall-list/{entry['action']['id']}/resolve", headers=planner)
    assert resolved.status_code == 200


async def test_the_recall_list_shows_customers_with_their_marker_until_resolved(clinic):
    tpl = await template(clinic, step(0, {"kind": "recall-list", "marker": "Ring op"}))
    customer = await patient(clinic)
    recall = await recalled(clinic, customer, tpl, today(clinic))
    assert (await evaluate(clinic))["actions"] == {"recall-list": 1}
    [entry] = await clinic.call("GET", "/recall-list")
    assert (entry["marker"], entry["customer_name"], entry["phone"], entry["template_name"]) == ("Ring op", "Mette Hansen", "+4520123456",
                                                                                                 "Kontrol hvert halve år")
    assert entry["action"]["recall_id"] == recall["id"] and (await card(clinic, customer))["marker"] == "Ring op"
    await clinic.call("PUT", f"/customers/{customer.customer_id}/marker", json={"marker": "Foretrækker mail"})
    assert (await clinic.call("GET", "/recall-list"))[0]["marker"] == "Foretrækker mail"  # the marker follows the customer
    assert await clinic.call("POST", f"/recall-list/{entry['action']['id']}/resolve") == []


async def test_auto_book_searches_30_days_from_the_recall_date_and_falls_back_when_no_slot_is_free(clinic, published):
    tpl = await template(clinic, step(3, {"kind": "auto-book", "fallback": "sms"}))
    to_list = await template(clinic, step(3, {"kind": "auto-book", "fallback": "recall-list", "marker": "Ingen tid"}), name="Til listen")
    booked, by_sms, listed = await patient(clinic), await patient(clinic), await patient(clinic)
    recall_date = today(clinic)
    r1, r2 = await recalled(clinic, booked, tpl, recall_date), await recalled(clinic, by_sms, tpl, recall_date)
    r3 = await recalled(clinic, listed, to_list, recall_date)
    clinic.clock.shift += timedelta(days=3)
    assert (await evaluate(clinic))["actions"] == {"auto-book": 3}
    commands = await published.wait(topics.BOOKING_COMMANDS, lambda e: e.type == "booking.auto-book"
                                    and e.payload["source_ref"] in (r1["id"], r2["id"], r3["id"]), count=3, what="three auto-book commands")
    by_recall = {c.payload["source_ref"]: c.payload for c in commands}
    one = by_recall[r1["id"]]
    assert one["service"] == SERVICE and one["customer_id"] == str(booked.customer_id)
    assert datetime.fromisoformat(one["search_until"]) == datetime.combine(recall_date + timedelta(days=30), datetime.min.time(), ZONE)
    assert datetime.fromisoformat(one["search_from"]) >= datetime.combine(recall_date, datetime.min.time(), ZONE)  # never in the past

    start = clinic.clock() + timedelta(days=5)
    await clinic.publish(BookingCommandApplied(request_id=one["request_id"], command="booking.auto-book", customer_id=booked.customer_id,
                                               booking_id=uuid.uuid4(), starts_at=start))
    for recall in (r2, r3):
        await clinic.publish(BookingCommandRefused(request_id=by_recall[recall["id"]]["request_id"], command="booking.auto-book",
                                                   customer_id=uuid.UUID(by_recall[recall["id"]]["customer_id"]),
                                                   reason_code="no-free-slot", reason="no free slot in the window"))

    async def answered():
        states = [[a["state"] for a in (await recall_of(clinic, c, r["id"]))["actions"]] for c, r in ((booked, r1), (by_sms, r2), (listed, r3))]
        # Final states only: "awaiting-booking" is the first action's state until its answer is handled.
        settled = all(len(s) == n and "awaiting-booking" not in s for s, n in zip(states, (1, 2, 2)))
        return states if settled else None

    assert await wait_until(answered, what="the answers") == [["booked"], ["no-free-slot", "requested"], ["no-free-slot", "listed"]]
    [fallback] = await published.wait(topics.NOTIFICATION_REQUESTS, requests_for(r2["id"]), what="the fallback SMS")
    assert fallback.payload["channels"] == ["sms"]
    [entry] = [e for e in await clinic.call("GET", "/recall-list") if e["action"]["recall_id"] == r3["id"]]
    assert entry["marker"] == "Ingen tid" and entry["action"]["reason"] == "auto-book: no free slot in the window"
    # The same answer again changes nothing.
    await clinic.publish(BookingCommandRefused(request_id=by_recall[r2["id"]]["request_id"], command="booking.auto-book",
                                               reason_code="no-free-slot", reason="again"))
    assert len((await recall_of(clinic, by_sms, r2["id"]))["actions"]) == 2


# --- E5: till sales ----------------------------------------------------------------------------


async def test_a_till_sale_of_a_linked_article_moves_the_recall_date_to_the_day_of_the_sale(clinic, published):
    tpl = await template(clinic, step(0, sms()), article_numbers=["T-200", "T-201"])
    unlinked = await template(clinic, step(0, sms()), name="Rens", article_numbers=["R-1"])
    by_kafka, by_http, by_number = await patient(clinic), await patient(clinic), await patient(clinic, number="K-4711")
    later = today(clinic) + timedelta(days=100)
    recalls = {c.customer_id: await recalled(clinic, c, tpl, later) for c in (by_kafka, by_http, by_number)}
    other = await recalled(clinic, by_kafka, unlinked, later)
    sold_at = clinic.clock() + timedelta(seconds=1)

    sale = TillSaleRecorded(sale_id=f"s-{uuid.uuid4().hex[:6]}", customer_id=by_kafka.customer_id,
                            lines=[SaleLine(article_number="T-201"), SaleLine(article_number="X-9")], sold_at=sold_at)
    await clinic.publish(sale)
    await clinic.publish(sale)  # the till sends it twice
    accepted = await clinic.call("POST", "/sales", status=202, json={
        "sale_id": "http-1", "customer_id": str(by_http.customer_id), "lines": [{"article_number": "T-200"}], "sold_at": sold_at.isoformat()})
    assert accepted == {"sale_id": "http-1", "status": "accepted"}
    await published.wait(topics.SALES_RECORDED, lambda e: e.payload.get("sale_id") == "http-1", what="the posted sale on sales.recorded")
    await clinic.publish(TillSaleRecorded(sale_id="by-number", customer_number="K-4711", lines=[SaleLine(article_number="T-200")],
                                          sold_at=sold_at))

    async def moved(customer, recall_id):
        r = await recall_of(clinic, customer, recall_id)
        return r if r["recall_date"] == today(clinic).isoformat() else None

    for customer in (by_kafka, by_http, by_number):
        after = await wait_until(lambda: moved(customer, recalls[customer.customer_id]["id"]), what="the recall date moved")
        assert after["course"] == 2 and after["next_step_day"] == today(clinic).isoformat()
    assert (await recall_of(clinic, by_kafka, other["id"]))["recall_date"] == later.isoformat()  # not linked to what was sold
    # A sale older than the date set since changes nothing; bad input is refused.
    sales = handled("sales", "sale.recorded")
    await clinic.publish(TillSaleRecorded(sale_id="old", customer_id=by_http.customer_id, lines=[SaleLine(article_number="T-200")],
                                          sold_at=sold_at - timedelta(days=30)))
    await wait_until(lambda: handled("sales", "sale.recorded") > sales, what="the old sale handled")
    assert (await recall_of(clinic, by_http, recalls[by_http.customer_id]["id"]))["recall_date"] == today(clinic).isoformat()
    bad = await clinic.call("POST", "/sales", status=422, json={"sale_id": "x", "lines": [], "sold_at": "yesterday"})
    assert {e["field"] for e in bad["errors"]} >= {"body.lines", "body.sold_at"}


async def test_a_sale_naming_a_customer_number_recall_does_not_know_yet_applies_when_the_customer_arrives(clinic):
    tpl = await template(clinic, step(0, sms()), article_numbers=["T-300"])
    customer_id = uuid.uuid4()
    await clinic.publish(TillSaleRecorded(sale_id="early", customer_number="K-9", lines=[SaleLine(article_number="T-300")],
                                          sold_at=clinic.clock() + timedelta(seconds=5)))
    later = today(clinic) + timedelta(days=50)
    card_ = await clinic.call("POST", f"/customers/{customer_id}/recalls", json={"template_id": tpl["id"], "recall_date": later.isoformat()},
                              status=201)
    recall_id = card_["recalls"][0]["id"]
    await clinic.customer(customer_id=customer_id, number="K-9")

    async def moved():
        r = (await clinic.call("GET", f"/customers/{customer_id}/recalls"))["recalls"][0]
        return r if r["recall_date"] == today(clinic).isoformat() else None

    assert (await wait_until(moved, what="the waiting sale applied"))["id"] == recall_id
