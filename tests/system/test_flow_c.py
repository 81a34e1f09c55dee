"""Flow C, online check-in (seed 001), end to end with the five services as processes on the real
broker and databases, for a tenant whose check-in link goes out 20 seconds before the visit.

`test_online_check_in_from_the_link_to_the_answered_appointment` checks everything check-in owns
and the commands and events it sends booking. `test_booking_shows_what_the_customer_and_the_
receptionist_did_at_check_in` walks the same flow and checks booking's side of those commands
(contact change, work lines, the technician's work list, the communication log). The garage's
administrator keeps the service catalog in booking, which publishes it to check-in."""
from __future__ import annotations

import asyncio
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from io import BytesIO
from urllib.parse import urlsplit

import httpx
import pytest

from bookflow_contracts import CatalogService, topics
from bookflow_devstack.processes import Stack
from bookflow_devstack.testing import daytime_zone, envelope_of, header, new_tenant, wait_until
from bookflow_runtime import development

pytestmark = pytest.mark.system
LINK_BEFORE = timedelta(seconds=20)
CATALOG = [
    CatalogService(service="apk", name="APK-keuring", duration_minutes=60, price_incl_vat=Decimal("45.00")),
    CatalogService(service="carwash", name="Wasbeurt", duration_minutes=20, price_incl_vat=Decimal("19.95"),
                   description="Buitenkant wassen en drogen.", offered_at_checkin=True),
    CatalogService(service="wipers", name="Ruitenwissers vervangen", duration_minutes=15, price_incl_vat=Decimal("29.50"),
                   description="Nieuwe wisserbladen voor.", offered_at_checkin=True),
]


def photo() -> bytes:
    from PIL import Image

    out = BytesIO()
    Image.new("RGB", (64, 48), (30, 90, 200)).save(out, "JPEG")
    return out.getvalue()


class Garage:
    """A tenant of the running system: its administrator's token (from booking), and the two
    services' addresses."""

    def __init__(self, stack: Stack, tenant_id: str, token: str) -> None:
        self.stack, self.id = stack, tenant_id
        self.headers = {"Authorization": f"Bearer {token}"}
        self.booking = f"{stack.services['booking'].url}/tenants/{tenant_id}"
        self.checkin = f"{stack.services['checkin'].url}/tenants/{tenant_id}"

    @classmethod
    async def open(cls, stack: Stack, kafka) -> "Garage":
        tenant_id = new_tenant()
        async with httpx.AsyncClient(timeout=10) as client:
            response = await client.put(f"{stack.services['booking'].url}/tenants/{tenant_id}",
                                        headers={"Authorization": f"Bearer {development.OPERATOR_TOKEN}"},
                                        json={"name": "Garage De Vries", "time_zone": daytime_zone(), "language": "nl"})
        assert response.status_code == 200, response.text
        garage = cls(stack, tenant_id, response.json()["staff_token"])
        # The administrator keeps the catalog in booking, which publishes it to check-in.
        for service in CATALOG:
            await garage.call("PUT", f"{garage.booking}/catalog/{service.service}",
                              json=service.model_dump(mode="json", exclude={"service"}, exclude_none=True))
        await garage.call("PUT", f"{garage.checkin}/checkin-settings", json={
            "enabled": True, "link_before": "PT20S", "convert_to_intervention": ["wipers"]})
        return garage

    async def call(self, method: str, url: str, status: int = 200, **kw):
        async with httpx.AsyncClient(timeout=10) as client:
            response = await client.request(method, url, headers=self.headers, **kw)
        assert response.status_code == status, f"{method} {url}: {response.status_code} {response.text}"
        return response.json()

    async def book(self, start: datetime, technician_id: str) -> dict:
        return await self.call("POST", f"{self.booking}/bookings", status=201, json={
            "customer": {"name": "Jan de Vries", "phone": "+31612345678", "email": "jan@example.nl", "language": "nl"},
            "service": "apk", "starts_at": start.isoformat(), "estimate": "PT1H", "technician_id": technician_id,
            "place": {"street": "Industrieweg 4", "postcode": "3542 AD", "city": "Utrecht"}})

    async def sandbox(self) -> list[dict]:
        async with httpx.AsyncClient(timeout=10) as client:
            response = await client.get(f"{self.stack.services['notification'].url}/sandbox/messages", params={"tenant_id": self.id})
        response.raise_for_status()
        return response.json()

    async def log(self, booking_id: str) -> list[dict]:
        """The booking's communication log, as booking shows it."""
        return await self.call("GET", f"{self.booking}/bookings/{booking_id}/messages")

    async def day_list(self, day: str) -> list[dict]:
        return await self.call("GET", f"{self.checkin}/appointments", params={"day": day})

    async def checked_in(self, booking_id: str) -> dict:
        return await self.call("GET", f"{self.checkin}/appointments/{booking_id}")


async def published(kafka, garage: Garage, topic: str, type_: str, booking_id: str, count: int = 1,
                    where=lambda payload: True) -> list[dict]:
    def match(record) -> bool:
        env = envelope_of(record)
        return (header(record, "tenant-id") == garage.id and env is not None and env.type == type_
                and (env.key == f"booking:{booking_id}" or env.payload.get("booking_id") == booking_id) and where(env.payload))

    async with kafka.reader(topic) as reader:
        records = await reader.wait_for(match, count=count, timeout=30, what=f"{type_} on {topic}")
    return [envelope_of(r).payload for r in records]


@dataclass
class CheckedIn:
    garage: Garage
    booking: dict
    cancelled: dict
    technician: dict
    link: str


async def the_customer_checks_in(stack: Stack, kafka) -> CheckedIn:
    """C1–C3 as the customer lives them: the link by SMS (none for a booking cancelled 100 ms
    before its link), then the page: channel and phone changed, one service accepted, another
    asked about, a comment with a photo, the check-in sent."""
    garage = await Garage.open(stack, kafka)
    technician = await garage.call("POST", f"{garage.booking}/technicians", status=201, json={"name": "Piet"})
    start = datetime.now(UTC) + LINK_BEFORE + timedelta(seconds=6)
    kept, cancelled = await garage.book(start, technician["id"]), await garage.book(start, technician["id"])
    link_at = start - LINK_BEFORE

    # Aim so that the cancellation is stored between 600 and 100 ms before the link's instant.
    await asyncio.sleep((link_at - datetime.now(UTC)).total_seconds() - 0.6)
    view = await garage.call("POST", f"{garage.booking}/bookings/{cancelled['id']}/transitions/cancel", json={"reason": "kan niet"})
    cancelled_at = datetime.fromisoformat(view["history"][-1]["at"])
    assert timedelta(milliseconds=100) <= link_at - cancelled_at <= timedelta(milliseconds=600)

    [sms] = await wait_until(lambda: _links_in_sandbox(garage), timeout=40, what="the check-in link in the sandbox")
    assert sms["recipient"] == "+31612345678" and "online in" in sms["body"] and "/checkin/" in sms["body"]
    [request] = await published(kafka, garage, topics.NOTIFICATION_REQUESTS, "notification.send", kept["id"],
                                where=lambda p: p["template_key"] == "checkin-link")
    assert request["template_key"] == "checkin-link" and request["channels"][0] == "sms"
    link = request["data"]["checkin_url"]
    assert link in sms["body"]

    async with httpx.AsyncClient(timeout=10, follow_redirects=True) as customer:
        page = await customer.get(link)
        assert page.status_code == 200 and "Welkom, Jan de Vries" in page.text and "Wasbeurt" in page.text
        saved = await customer.post(f"{link}/contact", data={"preferred_channel": "email", "phone": "+31687654321",
                                                             "email": "jan@example.nl"})
        assert "Bedankt, we hebben uw nieuwe gegevens doorgegeven." in saved.text
        commented = await customer.post(f"{link}/comments", data={"subject": "Lampje motorstoring",
                                                                  "description": "Brandt sinds vorige week oranje."},
                                        files=[("files", ("dashboard.jpg", photo(), "image/jpeg"))])
        assert "Uw opmerking is toegevoegd." in commented.text
        sent = await customer.post(f"{link}/answer", data={"service:wipers": "accept", "service:carwash": "contact"})
        assert "Bedankt, uw check-in is verstuurd naar Garage De Vries." in sent.text

    await published(kafka, garage, topics.NOTIFICATION_REQUESTS, "notification.withdraw", cancelled["id"],
                    where=lambda p: p["regarding"] == f"checkin:{cancelled['id']}")
    assert len(await _links_in_sandbox(garage)) == 1  # the cancelled booking's link never went out
    return CheckedIn(garage, kept, cancelled, technician, link)


async def _links_in_sandbox(garage: Garage) -> list[dict]:
    return [m for m in await garage.sandbox() if "/checkin/" in m["body"]]


async def the_receptionist_handles_it(checked: CheckedIn) -> dict:
    """C4–C7 at the front desk: the pinned appointment, its items handled, the comment shared."""
    garage, booking_id = checked.garage, checked.booking["id"]
    visit_day = datetime.fromisoformat(checked.booking["starts_at"]).date().isoformat()
    pinned = await wait_until(lambda: _pinned(garage, visit_day, booking_id), timeout=20, what="the pinned appointment")
    assert pinned["checkin"]["unhandled"] == 3 and not pinned["answered"]

    view = await garage.checked_in(booking_id)
    items = {item["kind"]: item for item in view["items"]}
    for kind, action in (("comment", "add-intervention"), ("accepted-service", "add-intervention"), ("contact-request", "handled")):
        await garage.call("POST", f"{garage.checkin}/appointments/{booking_id}/items/{items[kind]['item_id']}/handle",
                          json={"action": action})
    [comment] = view["comments"]
    await garage.call("PUT", f"{garage.checkin}/appointments/{booking_id}/comments/{comment['comment_id']}/visible-to-mechanics",
                      json={"visible": True})
    [line] = [line for line in await garage.day_list(visit_day) if line["booking_id"] == booking_id]
    assert line["answered"] and not line["pinned"]
    return await garage.checked_in(booking_id)


async def _pinned(garage: Garage, day: str, booking_id: str):
    lines = await garage.day_list(day)
    return lines[0] if lines and lines[0]["booking_id"] == booking_id and lines[0]["pinned"] else None


async def test_online_check_in_from_the_link_to_the_answered_appointment(stack: Stack, kafka):
    checked = await the_customer_checks_in(stack, kafka)
    garage, booking_id = checked.garage, checked.booking["id"]
    [contact] = await published(kafka, garage, topics.BOOKING_COMMANDS, "booking.change-customer-contact", booking_id)
    assert (contact["preferred_channel"], contact["phone"], contact["source"]) == ("email", "+31687654321", "check-in")
    [answered] = await published(kafka, garage, topics.CHECKIN_EVENTS, "checkin.answered", booking_id)
    assert (answered["accepted_services"], answered["contact_requests"], answered["comments"]) == (["wipers"], ["carwash"], 1)

    view = await the_receptionist_handles_it(checked)
    assert [i["service"] for i in view["converted"]] == ["wipers"] and all(i["state"] == "handled" for i in view["items"])
    lines = await published(kafka, garage, topics.BOOKING_COMMANDS, "booking.add-work-line", booking_id, count=2)
    assert sorted(c["line"]["origin"] for c in lines) == ["check-in-intervention", "check-in-optional-service"]
    handled = await published(kafka, garage, topics.CHECKIN_EVENTS, "checkin.item-handled", booking_id, count=3)
    assert [h["all_handled"] for h in handled] == [False, False, True]
    [shared] = await published(kafka, garage, topics.CHECKIN_EVENTS, "checkin.comment-shared", booking_id)
    file_url = shared["files"][0]["url"]
    async with httpx.AsyncClient(timeout=10) as client:
        staff_opens = await client.get(file_url, headers=garage.headers)
        stranger = await client.get(file_url)
    assert staff_opens.status_code == 200 and staff_opens.content == photo() and stranger.status_code == 401

    logged = await wait_until(lambda: _logged(garage, booking_id, "checkin-link", "delivered"), timeout=30,
                              what="the check-in link in the communication log")
    assert logged[0]["channel"] == "sms"


async def _logged(garage: Garage, booking_id: str, template: str, status: str):
    found = [m for m in await garage.log(booking_id) if m.get("template_key") == template and m.get("status") == status]
    return found or None


async def test_booking_shows_what_the_customer_and_the_receptionist_did_at_check_in(stack: Stack, kafka):
    checked = await the_customer_checks_in(stack, kafka)
    garage, booking_id = checked.garage, checked.booking["id"]
    await the_receptionist_handles_it(checked)

    # C3: booking applied the contact change and wrote the preferred channel back to the customer.
    await wait_until(lambda: _contact_changed(garage, booking_id), timeout=30, what="booking to apply the contact change")
    # C5: the intervention and the converted service are work lines on the booking.
    booking = await garage.call("GET", f"{garage.booking}/bookings/{booking_id}")
    origins = sorted(line["origin"] for line in booking["work_lines"] if line["origin"] != "planned")
    assert origins == ["check-in-intervention", "check-in-optional-service"]
    # C6: the technician's work list shows the shared comment with its file.
    day = datetime.fromisoformat(checked.booking["starts_at"]).date().isoformat()
    work = await garage.call("GET", f"{garage.booking}/technicians/{checked.technician['id']}/work-list", params={"day": day})
    [visit] = [w for w in work if w["id"] == booking_id]
    [shared] = visit["shared_comments"]
    assert shared["subject"] == "Lampje motorstoring" and shared["files"][0]["name"] == "dashboard.jpg"
    # C3, C7: the communication log shows the contact change and the customer's answer.
    log = await garage.call("GET", f"{garage.booking}/bookings/{booking_id}/communication-log")
    assert {"check-in", "contact-change"} <= {entry.get("kind") for entry in log} and "+31687654321" in json.dumps(log)
    # The check-in page shows booking's new work lines to the customer.
    checkin = await garage.checked_in(booking_id)
    assert {line["origin"] for line in checkin["work_lines"]} >= {"check-in-intervention", "check-in-optional-service"}
    assert urlsplit(checked.link).path.startswith("/checkin/") and uuid.UUID(booking_id)


async def _contact_changed(garage: Garage, booking_id: str):
    booking = await garage.call("GET", f"{garage.booking}/bookings/{booking_id}")
    return booking if booking.get("phone") == "+31687654321" else None
