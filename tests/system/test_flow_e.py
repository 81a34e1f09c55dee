"""Flow E, recall (seed 004 "Genindkald"), end to end with the five services as processes on the
real broker and databases, for a dental clinic whose days last one second (its recall settings,
development mode). One template with three steps walks six patients:

- Astrid came for a check-up within the tolerance: skipped, her recall date moves on;
- Bo has a future check-up booked: his course ends at the first step;
- Carla did not show up (her booking is marked no-show): she gets an SMS, then an e-mail, and after two courses
  (the template's number of times) her recall is finished, each date the frequency further;
- Dan is auto-booked into the one free slot: the booking appears with the source
  "recall-auto-book" and gets its notice;
- Eva's auto-book a day later finds no slot: she is on the recall list with the marker;
- Frida's recall date moves to the day of a till sale of the linked article.

The calls marked "booking:" use the booking service's side (issues 12 and 16): the customer API,
bookings for an existing customer (a past visit recorded with `record_only`), the `no-show`
transition, and `booking.auto-book` applied (the free slot booked with source
`recall-auto-book` and its notice sent, or `no-free-slot` answered).
"""
from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest

from bookflow_devstack.processes import Stack
from bookflow_devstack.testing import daytime_zone, new_tenant, wait_until
from bookflow_runtime import development

pytestmark = pytest.mark.system

SERVICE = "kontrol"
DAY = timedelta(seconds=1)


class Clinic:
    """A tenant of the running system, seen by its administrator."""

    def __init__(self, stack: Stack, tenant_id: str, token: str) -> None:
        self.stack, self.id = stack, tenant_id
        self.headers = {"Authorization": f"Bearer {token}"}
        self.origin: datetime | None = None
        self.zone = ZoneInfo("UTC")

    @classmethod
    async def open(cls, stack: Stack) -> "Clinic":
        tenant_id = new_tenant()
        async with httpx.AsyncClient(timeout=10) as client:
            response = await client.put(f"{stack.services['booking'].url}/tenants/{tenant_id}",
                                        headers={"Authorization": f"Bearer {development.OPERATOR_TOKEN}"},
                                        json={"name": "Tandklinikken", "flow": "confirmation", "language": "da",
                                              "time_zone": daytime_zone()})
        assert response.status_code == 200, response.text
        clinic = cls(stack, tenant_id, response.json()["staff_token"])

        async def zone_known():
            return (await clinic.call("recall", "GET", "/recall-settings"))["time_zone"] is not None

        await wait_until(zone_known, timeout=30, what="the tenant in recall")
        settings = await clinic.call("recall", "PUT", "/recall-settings", json={
            "enabled": True, "flag_missing_recall": True, "run_offset_days": 0, "day_length": "PT1S"})
        clinic.origin, clinic.zone = datetime.fromisoformat(settings["day_origin"]), ZoneInfo(settings["time_zone"])
        return clinic

    async def call(self, service: str, method: str, path: str, *, status: int | None = 200, **kw):
        async with httpx.AsyncClient(timeout=30) as client:
            response = await client.request(method, f"{self.stack.services[service].url}/tenants/{self.id}{path}",
                                            headers=self.headers, **kw)
        if status is not None:
            assert response.status_code == status, response.text
        return response.json()

    def today(self) -> date:
        """The clinic's day now, as recall counts it (its days last a second from `day_origin`)."""
        return self.day_of(datetime.now(UTC))

    def day_of(self, instant: datetime) -> date:
        """The clinic's day at `instant`, as recall counts it."""
        assert self.origin is not None
        return self.origin.astimezone(self.zone).date() + timedelta(days=(instant - self.origin) // DAY)

    def start_of(self, day: date) -> datetime:
        """When the clinic's `day` begins, as recall counts days."""
        assert self.origin is not None
        return self.origin + (day - self.origin.astimezone(self.zone).date()).days * DAY

    # booking: the customer API (issue 12)
    async def patient(self, name: str, phone: str) -> dict:
        return await self.call("booking", "POST", "/customers", status=201, json={
            "name": name, "phone": phone, "email": f"{name.lower()}@example.dk", "language": "da", "marketing_consent": True})

    # booking: a booking for an existing customer, and the lifecycle transitions (issue 12); a
    # visit in the past is recorded as it took place (`record_only`: completed, nothing sent)
    async def book(self, patient: dict, starts_at: datetime, then: str | None = None) -> dict:
        past = {"record_only": True} if starts_at < datetime.now(UTC) else {}
        booking = await self.call("booking", "POST", "/bookings", status=201, json={
            "customer_id": patient["id"], "service": SERVICE, "starts_at": starts_at.isoformat(), "estimate": "PT30M", **past})
        if then:
            await self.call("booking", "POST", f"/bookings/{booking['id']}/transitions/{then}", json={"reason": "test"})
        return booking

    async def in_recall(self, patient: dict, count: int) -> bool:
        return len(await self.call("recall", "GET", f"/customers/{patient['id']}/bookings")) >= count

    async def recall(self, patient: dict, template: dict, recall_date: date) -> dict:
        card = await self.call("recall", "POST", f"/customers/{patient['id']}/recalls", status=201,
                               json={"template_id": template["id"], "recall_date": recall_date.isoformat()})
        return card["recalls"][0]

    async def card(self, patient: dict) -> dict:
        return await self.call("recall", "GET", f"/customers/{patient['id']}/recalls")

    async def sandbox(self) -> list[dict]:
        async with httpx.AsyncClient(timeout=10) as client:
            response = await client.get(f"{self.stack.services['notification'].url}/sandbox/messages", params={"tenant_id": self.id})
        response.raise_for_status()
        return response.json()


def step(after_days: int, actions: list[dict], **criteria: str) -> dict:
    return {"after_days": after_days, "actions": actions,
            "criteria": [{"when": when.replace("_", "-"), "end_course": how == "end"} for when, how in criteria.items()]}


async def test_one_template_with_three_steps_walks_a_clinics_patients(stack: Stack):
    clinic = await Clinic.open(stack)
    template = await clinic.call("recall", "POST", "/recall-templates", status=201, json={
        "name": "Kontrol hvert halve år", "service": SERVICE, "tolerance_days": 90, "frequency": 4, "frequency_unit": "days",
        "times": 2, "article_numbers": ["K-100"], "steps": [
            step(0, [{"kind": "send", "channel": "sms"}], future="end", no_show="act"),
            step(1, [{"kind": "auto-book", "fallback": "recall-list", "marker": "Ring op"}], future="end", none="act"),
            step(2, [{"kind": "send", "channel": "email"}], future="end", no_show="act"),
        ]})
    now = datetime.now(UTC)
    astrid, bo, carla = (await clinic.patient("Astrid", "+4520123451"), await clinic.patient("Bo", "+4520123452"),
                         await clinic.patient("Carla", "+4520123453"))
    dan, eva, frida = (await clinic.patient("Dan", "+4520123454"), await clinic.patient("Eva", "+4520123455"),
                       await clinic.patient("Frida", "+4520123456"))
    # The clinic's days last a second: "30 days ago" is half a minute ago.
    await clinic.book(astrid, now - 30 * DAY)  # booking: a past visit, recorded as completed
    await clinic.book(bo, now + 300 * DAY)
    await clinic.book(carla, datetime.now(UTC) + 60 * DAY, then="no-show")  # booking: the no-show transition
    for patient in (astrid, bo, carla):
        await wait_until(lambda: clinic.in_recall(patient, 1), timeout=30, what="the booking in recall")
    first = clinic.today() + timedelta(days=3)
    # Within Dan's and Eva's auto-book windows (30 of the clinic's days from their recall dates),
    # and far enough after their auto-book days that a slow machine still finds it in the future.
    slot_at = clinic.start_of(first + timedelta(days=20))
    await clinic.call("booking", "POST", "/slots", status=201, json={
        "service": SERVICE, "starts_at": slot_at.isoformat(), "ends_at": (slot_at + timedelta(minutes=30)).isoformat()})
    recalls = {name: await clinic.recall(p, template, first) for name, p in
               (("astrid", astrid), ("bo", bo), ("carla", carla), ("dan", dan))}
    recalls["eva"] = await clinic.recall(eva, template, first + timedelta(days=1))  # a day after Dan: the slot is his by then
    # Frida's recall is for cleaning, which books nothing itself: moved to today by her sale, a
    # recall of the check-up template would auto-book her into Dan's slot before his day comes.
    cleaning = await clinic.call("recall", "POST", "/recall-templates", status=201, json={
        "name": "Tandrensning", "service": SERVICE, "tolerance_days": 0, "frequency": 4, "frequency_unit": "days",
        "times": 1, "article_numbers": ["R-200"], "steps": [step(0, [{"kind": "send", "channel": "sms"}])]})
    recalls["frida"] = await clinic.recall(frida, cleaning, first + timedelta(days=40))

    # E5: a till sale of the linked article moves Frida's recall date to the day of the sale.
    sold_at = datetime.now(UTC)
    await clinic.call("recall", "POST", "/sales", status=202, json={
        "sale_id": f"till-{clinic.id}", "customer_id": frida["id"], "lines": [{"article_number": "R-200"}], "sold_at": sold_at.isoformat()})

    async def frida_moved():
        r = (await clinic.card(frida))["recalls"][0]
        return r if r["recall_date"] < recalls["frida"]["recall_date"] else None

    moved = await wait_until(frida_moved, timeout=30, what="Frida's recall date moved by the sale")
    assert moved["recall_date"] == clinic.day_of(sold_at).isoformat()

    async def course_done(patient, name):
        r = next(x for x in (await clinic.card(patient))["recalls"] if x["id"] == recalls[name]["id"])
        return r if r["course"] >= 2 or r["status"] != "active" else None

    # Astrid: completed within the tolerance, skipped; her date moves by the frequency.
    a = await wait_until(lambda: course_done(astrid, "astrid"), timeout=60, what="Astrid's course")
    assert [(s["outcome"], s["criterion"]) for s in a["steps"]][:1] == [("skipped", "completed")] and a["actions"] == []
    assert a["recall_date"] == (first + timedelta(days=4)).isoformat()
    # Bo: a future booking ends the course at the first step.
    b = await wait_until(lambda: course_done(bo, "bo"), timeout=60, what="Bo's course")
    assert [(s["outcome"], s["criterion"]) for s in b["steps"]][:1] == [("ended", "future")]

    # Dan: booked into the free slot (booking: AutoBook applied), with its source and its notice.
    async def dan_booked():
        actions = next(x for x in (await clinic.card(dan))["recalls"] if x["id"] == recalls["dan"]["id"])["actions"]
        return next((x for x in actions if x["kind"] == "auto-book" and x["state"] == "booked"), None)

    try:
        booked = await wait_until(dan_booked, timeout=60, what="Dan auto-booked")
    except AssertionError as exc:
        dans = next(x for x in (await clinic.card(dan))["recalls"] if x["id"] == recalls["dan"]["id"])
        raise AssertionError(f"{exc}; the free slot at {slot_at.isoformat()}; Dan's recall: {dans}") from None
    history = await clinic.call("recall", "GET", f"/customers/{dan['id']}/bookings")
    [made] = [h for h in history if h["booking_id"] == booked["booking_id"]]
    assert made["source"] == "recall-auto-book" and made["source_label"] == "recall auto-book"
    view = await clinic.call("booking", "GET", f"/bookings/{booked['booking_id']}")
    assert datetime.fromisoformat(view["starts_at"]) == slot_at
    await wait_until(lambda: _sent_to(clinic, "+4520123454"), timeout=30, what="Dan's booking notice")

    # Eva: no free slot left; she is on the recall list with the marker.
    async def eva_listed():
        return next((e for e in await clinic.call("recall", "GET", "/recall-list") if e["action"]["customer_id"] == eva["id"]), None)

    entry = await wait_until(eva_listed, timeout=60, what="Eva on the recall list")
    assert entry["marker"] == "Ring op" and entry["action"]["reason"].startswith("auto-book:")

    # Carla: an SMS at the first step, an e-mail at the third; two courses, then finished.
    async def carla_finished():
        r = next(x for x in (await clinic.card(carla))["recalls"] if x["id"] == recalls["carla"]["id"])
        return r if r["status"] == "finished" else None

    done = await wait_until(carla_finished, timeout=90, what="Carla's two courses")
    assert done["courses_done"] == 2 and done["recall_date"] == (first + timedelta(days=4)).isoformat()
    assert [(s["recall_date"], s["after_days"], s["outcome"]) for s in done["steps"]] == [
        (d.isoformat(), n, o) for d in (first, first + timedelta(days=4)) for n, o in ((0, "acted"), (1, "passed"), (2, "acted"))]
    channels = [a["channel"] for a in done["actions"]]
    assert channels == ["sms", "email", "sms", "email"]
    await wait_until(lambda: _sent_to(clinic, "+4520123453", count=2), timeout=30, what="Carla's two recall SMS")

    # E1: once Astrid's recall has run its two courses she has none active, and is flagged.
    async def astrid_flagged():
        return any(m["customer_id"] == astrid["id"] for m in await clinic.call("recall", "GET", "/customers-missing-recall"))

    await wait_until(astrid_flagged, timeout=30, what="Astrid flagged without a recall")
    assert (await clinic.card(astrid))["missing_recall"] is True


async def _sent_to(clinic: Clinic, phone: str, count: int = 1) -> bool:
    return sum(m["recipient"] == phone for m in await clinic.sandbox()) >= count
