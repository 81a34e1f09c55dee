"""Flow B, letter booking of work orders (seed 002), end to end with the five services as
processes on the real broker and databases: locking a technician's day, PDF letters with the
booking codes in the tenant's letter folder, customers' SMS replies, the booking reminder after a
response time of seconds, and the planner's manual follow-up."""
from __future__ import annotations

import subprocess
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest

from bookflow_contracts import ReplyReceived
from bookflow_devstack.processes import Stack
from bookflow_devstack.testing import OPERATOR, daytime_zone, envelope, new_tenant, wait_until

pytestmark = pytest.mark.system


class Planner:
    def __init__(self, stack: Stack, tenant_id: str, token: str) -> None:
        self.id = tenant_id
        self.headers = {"Authorization": f"Bearer {token}"}
        self.url = f"{stack.services['booking'].url}/tenants/{tenant_id}"

    @classmethod
    async def open(cls, stack: Stack, **settings) -> "Planner":
        tenant_id = new_tenant()
        async with httpx.AsyncClient(timeout=10) as client:
            response = await client.put(f"{stack.services['booking'].url}/tenants/{tenant_id}",
                                        headers=OPERATOR, json={"name": "Nettselskapet", **settings})
        assert response.status_code == 200, response.text
        return cls(stack, tenant_id, response.json()["staff_token"])

    async def call(self, method: str, path: str, json: dict | None = None, status: int = 200, **params):
        async with httpx.AsyncClient(timeout=10) as client:
            response = await client.request(method, f"{self.url}{path}", headers=self.headers, json=json, params=params)
        assert response.status_code == status, response.text
        return response.json()

    async def get(self, path: str, **params):
        return await self.call("GET", path, **params)

    async def post(self, path: str, json: dict | None = None, status: int = 200):
        return await self.call("POST", path, json, status)

    async def in_state(self, booking_id: str, state: str):
        view = await self.get(f"/bookings/{booking_id}")
        return view if view["state"] == state else None

    async def logged(self, booking_id: str, template: str, status: str | None = None) -> list[dict]:
        """The order's messages from `template` in its communication log (in `status`, if given)."""
        messages = await self.get(f"/bookings/{booking_id}/messages")
        return [m for m in messages if m["template_key"] == template and status in (None, m["status"])]


def pdf_text(path: Path) -> str:
    return subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True, check=True).stdout


async def test_letter_booking_from_locking_a_day_to_replies_reminders_and_manual_follow_up(stack: Stack, kafka, tmp_path):
    folder_name = f"nett-{uuid.uuid4().hex[:8]}"
    folder = stack.letters_dir / folder_name  # the tenant's folder under the notification service's letters root
    zone = daytime_zone()
    planner = await Planner.open(stack, flow="letter", time_zone=zone, language="nb", reply_number="+4759440000",
                                 letter_folder=folder_name, letter_response_time="PT8S")
    technician = await planner.post("/technicians", {"name": "Ola Nordmann"}, status=201)
    day = (datetime.now(UTC) + timedelta(days=30)).astimezone(ZoneInfo(zone)).replace(hour=8, minute=0, second=0, microsecond=0)

    async def order(i: int, place: dict) -> dict:
        return await planner.post("/bookings", {
            "customer": {"name": f"Kari {i}", "phone": f"+4791234{i:03d}", "language": "nb"}, "service": "målerbytte",
            "starts_at": (day + timedelta(hours=i)).isoformat(), "estimate": "PT1H", "technician_id": technician["id"],
            "sequence": i, "place": place}, status=201)

    orders = [await order(i, {"street": f"Storgata {i}", "postcode": "5003", "city": "Bergen"}) for i in range(5)]
    no_street = await order(5, {"postcode": "5003", "city": "Bergen"})

    # B1: the whole day locked; the order a letter cannot reach is refused with the reason
    locked = await planner.post("/orders/lock", {"technician_id": technician["id"], "day": day.date().isoformat()})
    assert locked["refused"] == [{"booking_id": no_street["id"], "reasons": ["missing street address"]}]
    codes = {r["booking_id"]: r["booking_code"] for r in locked["locked"]}
    assert set(codes) == {o["id"] for o in orders}

    # B2: one PDF letter per order, with its code and how to reply, in the tenant's folder
    sent = await planner.post("/orders/letters", {})
    assert {s["booking_id"] for s in sent["sent"]} == set(codes)
    letters = await wait_until(lambda: sorted(folder.glob("*.pdf")) if len(list(folder.glob("*.pdf"))) == 5 else None,
                               timeout=30, what="five letters in the folder")
    texts = [pdf_text(p) for p in letters]
    for code in codes.values():
        assert sum(code in t for t in texts) == 1
    assert all("+4759440000" in t for t in texts)
    assert {o["state"] for o in await planner.get("/bookings", state="awaiting-response")} == {"awaiting-response"}

    # B3: replies by SMS, matched on the code
    ok, ok_blank, contact, ok_excited, silent = orders
    for booking, answer in ((ok, f"{codes[ok['id']]} OK"), (ok_blank, f"{codes[ok_blank['id']].lower()} ok "),
                            (contact, f"{codes[contact['id']]} KONTAKT"), (ok_excited, f"{codes[ok_excited['id']]} Ok!!"),
                            (None, "QQQQ2222 OK")):
        sender = booking["phone"] if booking else "+4791234999"  # each customer answers from their own phone
        await kafka.publish_envelope(envelope(ReplyReceived(
            reply_id=uuid.uuid4(), channel="sms", sender=sender, recipient="+4759440000", text=answer,
            received_at=datetime.now(UTC), provider="sandbox"), planner.id))
    for booking, state in ((ok, "ready-for-execution"), (ok_blank, "ready-for-execution"), (contact, "manual-follow-up"),
                           (ok_excited, "manual-follow-up")):
        await wait_until(lambda b=booking, s=state: planner.in_state(b["id"], s), timeout=30, what=f"the reply to move to {state}")
    [kept] = await wait_until(lambda: planner.get("/replies/unmatched"), timeout=30, what="the unknown code kept for the planner")
    assert kept["code"] == "QQQQ2222"

    # B4: no answer within the response time: a booking reminder SMS and manual follow-up
    view = await wait_until(lambda: planner.in_state(silent["id"], "manual-follow-up"), timeout=40, what="the booking reminder")
    assert view["history"][-1]["transition"] == "no-answer"
    await wait_until(lambda: planner.logged(silent["id"], "booking-reminder"), timeout=30, what="the booking reminder in the log")

    # B7: from manual follow-up
    await planner.post(f"/bookings/{ok_excited['id']}/transitions/send-to-execution", {"reason": "answered Ok!!"})
    await planner.post(f"/bookings/{contact['id']}/transitions/confirm-by-sms", {"reason": "agreed on the phone"})
    [confirmation] = await wait_until(lambda: planner.logged(contact["id"], "booking-confirmation", "delivered"), timeout=30,
                                      what="the booking confirmation SMS")
    assert confirmation["channel"] == "sms" and confirmation["status"] == "delivered"
    moved = await planner.post(f"/bookings/{silent['id']}/reschedule", {
        "starts_at": (day + timedelta(hours=7)).isoformat(), "estimate": "PT30M", "sequence": 7})
    assert moved["state"] == "manual-follow-up" and moved["sequence"] == 7
    held = await planner.post(f"/bookings/{silent['id']}/hold", {"back_around": (day + timedelta(days=20)).date().isoformat(),
                                                                 "technician_id": None})  # unassigned, as asked
    assert held["state"] == "on-hold" and held["technician_id"] is None

    # B8: the technician's day shows the orders ready for execution, in booking order
    work = await planner.get(f"/technicians/{technician['id']}/work-list", day=day.date().isoformat())
    assert [w["id"] for w in work] == [ok["id"], ok_blank["id"], contact["id"], ok_excited["id"]]
