"""Flow A, the confirmation flow (seed 000), end to end with the five services as processes on
the real broker and databases: the notice reaches the customer through the notification
service's sandbox, My pages confirms or rebooks, and the scheduler's timers remind and release
a booking whose tenant counts its timings in seconds."""
from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from bookflow_contracts import topics
from bookflow_devstack.processes import Stack
from bookflow_devstack.testing import OPERATOR, daytime_zone, envelope_of, new_tenant, wait_until

pytestmark = pytest.mark.system


class Office:
    """A tenant of the running system, seen by its planner."""

    def __init__(self, stack: Stack, tenant_id: str, token: str) -> None:
        self.stack, self.id = stack, tenant_id
        self.headers = {"Authorization": f"Bearer {token}"}
        self.booking_url = f"{stack.services['booking'].url}/tenants/{tenant_id}"

    @classmethod
    async def open(cls, stack: Stack, **settings) -> "Office":
        tenant_id = new_tenant()
        async with httpx.AsyncClient(timeout=10) as client:
            response = await client.put(f"{stack.services['booking'].url}/tenants/{tenant_id}",
                                        headers=OPERATOR,
                                        json={"name": "Pinea", "flow": "confirmation", "time_zone": daytime_zone(), **settings})
        assert response.status_code == 200, response.text
        return cls(stack, tenant_id, response.json()["staff_token"])

    async def request(self, method: str, path: str, **kw) -> httpx.Response:
        async with httpx.AsyncClient(timeout=10) as client:
            return await client.request(method, f"{self.booking_url}{path}", headers=self.headers, **kw)

    async def get(self, path: str, **params):
        response = await self.request("GET", path, params=params)
        assert response.status_code == 200, response.text
        return response.json()

    async def post(self, path: str, json: dict | None = None, status: int = 200):
        response = await self.request("POST", path, json=json)
        assert response.status_code == status, response.text
        return response.json()

    async def book(self, **kw) -> dict:
        start = datetime.now(UTC) + timedelta(days=14)
        body = {"customer": {"name": "Åsa Öberg", "phone": "+46701234567", "language": "sv"}, "service": "mätarbyte",
                "starts_at": start.isoformat(), "estimate": "PT1H", **kw}
        return await self.post("/bookings", body, status=201)

    async def sandbox(self) -> list[dict]:
        async with httpx.AsyncClient(timeout=10) as client:
            response = await client.get(f"{self.stack.services['notification'].url}/sandbox/messages", params={"tenant_id": self.id})
        response.raise_for_status()
        return response.json()

    async def log(self, booking_id: str) -> list[dict]:
        """The booking's communication log, as the booking service shows it (A6)."""
        return await self.get(f"/bookings/{booking_id}/messages")

    async def state_of(self, booking_id: str) -> str:
        return (await self.get(f"/bookings/{booking_id}"))["state"]


async def my_pages_link(kafka, office: Office, booking_id: str) -> str:
    """The link the booking service put in the notice it asked for."""
    async with kafka.reader(topics.NOTIFICATION_REQUESTS) as reader:
        [record] = await reader.wait_for(lambda r: envelope_of(r).key == f"booking:{booking_id}"
                                         and envelope_of(r).payload.get("template_key") == "booking-notice")
    return envelope_of(record).payload["data"]["my_pages_url"]


async def opens(link: str) -> str:
    """The appointment a My pages link shows the customer: the page's time of the visit (tokens
    signed at different seconds differ in their bytes, so links are compared by what they open)."""
    async with httpx.AsyncClient(timeout=10) as customer:
        page = await customer.get(link)
    assert page.status_code == 200, page.text
    when = re.search(r'id="when"[^>]*>([^<]+)<', page.text)
    assert when, f"no time of the visit on the page:\n{page.text[:2000]}"
    return when[1].strip()


async def logged(office: Office, booking_id: str, template: str, status: str | None = None) -> list[dict]:
    """The booking's messages from `template` in its communication log (in `status`, if given)."""
    return [m for m in await office.log(booking_id) if m["template_key"] == template and status in (None, m["status"])]


async def test_a_customer_confirms_the_booking_from_the_link_in_the_notice(stack: Stack, kafka):
    office = await Office.open(stack)
    booking = await office.book()
    [notice] = await wait_until(office.sandbox, timeout=30, what="the notice in the sandbox")
    assert notice["recipient"] == "+46701234567" and "mätarbyte" in notice["body"]

    link = await my_pages_link(kafka, office, booking["id"])
    async with httpx.AsyncClient(timeout=10, follow_redirects=True) as customer:
        page = await customer.get(link)
        assert page.status_code == 200 and "Bekräfta tiden" in page.text
        confirmed = await customer.post(f"{link}/confirm")
    assert "Tack, din bokning är bekräftad." in confirmed.text
    view = await office.get(f"/bookings/{booking['id']}")
    assert view["state"] == "confirmed" and view["history"][-1]["actor"] == "customer"

    [logged_notice] = await wait_until(lambda: logged(office, booking["id"], "booking-notice", "delivered"), timeout=30,
                                       what="the notice in the communication log")
    assert logged_notice["status"] == "delivered"


async def test_a_customer_rebooks_into_a_free_slot_and_gets_a_new_notice(stack: Stack, kafka):
    office = await Office.open(stack)
    later = datetime.now(UTC) + timedelta(days=20)
    slot = await office.post("/slots", {"service": "mätarbyte", "starts_at": later.isoformat(),
                                        "ends_at": (later + timedelta(hours=1)).isoformat()}, status=201)
    old = await office.book()
    link = await my_pages_link(kafka, office, old["id"])
    async with httpx.AsyncClient(timeout=10) as customer:
        moved = await customer.post(f"{link}/rebook", data={"slot_id": slot["id"]})
    assert moved.status_code == 303

    old_view = await office.get(f"/bookings/{old['id']}")
    assert old_view["state"] == "cancelled" and old_view["state_reason"] == "rebooked"
    new = await office.get(f"/bookings/{old_view['rebooked_to']}")
    assert new["state"] == "unconfirmed" and new["rebooked_from"] == old["id"] and new["slot_id"] == slot["id"]
    link_of_new = await my_pages_link(kafka, office, new["id"])
    assert await opens(moved.headers["location"]) == await opens(link_of_new) != await opens(link)
    notices = await wait_until(lambda: _count(office.sandbox, 2), timeout=30, what="the second notice in the sandbox")
    assert all(n["recipient"] == "+46701234567" for n in notices)
    await wait_until(lambda: logged(office, new["id"], "booking-notice"), timeout=30, what="the new booking's notice in its log")


async def _count(fetch, n: int):
    found = await fetch()
    return found if len(found) >= n else None


async def test_an_unconfirmed_booking_is_reminded_then_released_and_its_slot_shows_as_freed(stack: Stack):
    office = await Office.open(stack, reminder_before="PT20S", release_after_reminder="PT3S")
    start = datetime.now(UTC) + timedelta(seconds=23)  # reminder in 3 s, release 3 s after it
    booking = await office.book(starts_at=start.isoformat())

    released = await wait_until(lambda: _released(office, booking["id"]), timeout=40, what="the release at the deadline")
    assert [h["transition"] for h in released["history"]] == ["release"]
    reminded = await wait_until(lambda: logged(office, booking["id"], "confirm-reminder", "delivered"), timeout=30,
                                what="the SMS reminder in the communication log")
    assert reminded[0]["channel"] == "sms" and reminded[0]["booking_id"] == booking["id"]
    [freed] = await office.get("/freed-slots", reason="released")
    assert freed["booking_id"] == booking["id"] and freed["slot_id"] == booking["slot_id"]
    timers = {r["timer_key"].rsplit(":", 1)[1] for r in released["reminders_received"]}
    assert timers == {"confirm-reminder", "release"}


async def _released(office: Office, booking_id: str):
    view = await office.get(f"/bookings/{booking_id}")
    return view if view["state"] == "cancelled" else None


async def test_a_booking_cancelled_100_ms_before_its_reminder_gets_no_reminder(stack: Stack):
    office = await Office.open(stack, reminder_before="PT20S")
    start = datetime.now(UTC) + timedelta(seconds=24)
    cancelled, kept = await office.book(starts_at=start.isoformat()), await office.book(starts_at=start.isoformat())
    reminder_at = start - timedelta(seconds=20)

    # Aim so that the cancellation is stored between 600 and 100 ms before the reminder's instant
    # (a request takes up to a few hundred ms here when other suites load the machine).
    await asyncio.sleep((reminder_at - datetime.now(UTC)).total_seconds() - 0.6)
    view = await office.post(f"/bookings/{cancelled['id']}/transitions/cancel", {"reason": "called to cancel"})
    cancelled_at = datetime.fromisoformat(view["history"][-1]["at"])
    assert timedelta(milliseconds=100) <= reminder_at - cancelled_at <= timedelta(milliseconds=600)

    await wait_until(lambda: logged(office, kept["id"], "confirm-reminder"), timeout=30, what="the other booking's reminder")
    assert await logged(office, cancelled["id"], "confirm-reminder") == []
    assert await office.state_of(cancelled["id"]) == "cancelled"


async def test_my_pages_in_a_browser_confirms_and_rebooks(stack: Stack, kafka):
    """My pages as a customer uses it: headless Chromium, no JavaScript needed, buttons and labels."""
    from playwright.async_api import async_playwright

    office = await Office.open(stack)
    later = datetime.now(UTC) + timedelta(days=30)
    slot = await office.post("/slots", {"service": "mätarbyte", "starts_at": later.isoformat(),
                                        "ends_at": (later + timedelta(hours=1)).isoformat()}, status=201)
    to_confirm, to_move = await office.book(), await office.book()
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path="/usr/bin/chromium", args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        try:
            page = await browser.new_page(java_script_enabled=False)
            await page.goto(await my_pages_link(kafka, office, to_confirm["id"]))
            assert await page.title() == "Din bokning"
            await page.get_by_role("button", name="Bekräfta tiden").click()
            await page.get_by_text("Tack, din bokning är bekräftad.").wait_for()
            assert await page.get_by_role("button", name="Bekräfta tiden").count() == 0

            await page.goto(await my_pages_link(kafka, office, to_move["id"]))
            await page.get_by_role("radio").first.check()
            await page.get_by_role("button", name="Boka vald tid").click()
            await page.get_by_role("button", name="Bekräfta tiden").wait_for()  # the new booking's page
            moved_to = page.url
            await page.get_by_role("button", name="Bekräfta tiden").click()
            await page.get_by_text("Tack, din bokning är bekräftad.").wait_for()
        finally:
            await browser.close()

    assert await office.state_of(to_confirm["id"]) == "confirmed"
    old = await office.get(f"/bookings/{to_move['id']}")
    assert old["state"] == "cancelled" and old["state_reason"] == "rebooked"
    new = await office.get(f"/bookings/{old['rebooked_to']}")
    assert new["slot_id"] == slot["id"] and new["state"] == "confirmed"
    assert await opens(moved_to) == await opens(await my_pages_link(kafka, office, new["id"]))
    assert await opens(moved_to) != await opens(await my_pages_link(kafka, office, to_move["id"]))
