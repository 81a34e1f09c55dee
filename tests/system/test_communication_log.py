"""A booking's and a customer's communication log (A6, X4) end to end, with the five services as
processes on the real broker and databases, and no service asking another anything over HTTP:
the booking service keeps its own log from `notification.status`, and a customer's new phone
number reaches the notification service as `customer.updated` and in every later request, and
so does consent given and withdrawn by staff."""
from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from bookflow_contracts import CustomerSnapshot, SendNotification
from bookflow_devstack.processes import Stack
from bookflow_devstack.testing import daytime_zone, envelope, new_tenant, wait_until
from bookflow_runtime import development

pytestmark = pytest.mark.system


class Desk:
    def __init__(self, stack: Stack, tenant_id: str, token: str) -> None:
        self.stack, self.id = stack, tenant_id
        self.headers = {"Authorization": f"Bearer {token}"}
        self.url = f"{stack.services['booking'].url}/tenants/{tenant_id}"

    @classmethod
    async def open(cls, stack: Stack) -> "Desk":
        tenant_id = new_tenant()
        async with httpx.AsyncClient(timeout=10) as client:
            response = await client.put(f"{stack.services['booking'].url}/tenants/{tenant_id}",
                                        headers={"Authorization": f"Bearer {development.OPERATOR_TOKEN}"},
                                        json={"name": "Pinea", "time_zone": daytime_zone(), "language": "sv"})
        assert response.status_code == 200, response.text
        return cls(stack, tenant_id, response.json()["staff_token"])

    async def call(self, method: str, path: str, json: dict | None = None, status: int = 200):
        async with httpx.AsyncClient(timeout=10) as client:
            response = await client.request(method, f"{self.url}{path}", headers=self.headers, json=json)
        assert response.status_code == status, response.text
        return response.json()

    async def sandbox(self) -> list[dict]:
        async with httpx.AsyncClient(timeout=10) as client:
            response = await client.get(f"{self.stack.services['notification'].url}/sandbox/messages", params={"tenant_id": self.id})
        response.raise_for_status()
        return response.json()


async def test_a_bookings_communication_log_comes_from_notification_status_with_no_http_between_services(stack: Stack):
    booking_env = stack.services["booking"].env
    assert not [name for name in booking_env if name.startswith("BOOKFLOW_BOOKING_") and name.endswith("NOTIFICATION_URL")]
    desk = await Desk.open(stack)
    customer = await desk.call("POST", "/customers", {"name": "Åsa Öberg", "phone": "+46701234567", "language": "sv"}, status=201)
    start = datetime.now(UTC) + timedelta(days=14)
    booking = await desk.call("POST", "/bookings", {"customer_id": customer["id"], "service": "mätarbyte",
                                                    "starts_at": start.isoformat(), "estimate": "PT1H"}, status=201)

    async def delivered(booking_id: str, count: int = 1):
        log = await desk.call("GET", f"/bookings/{booking_id}/messages")
        done = [m for m in log if m["status"] == "delivered"]
        return log if len(done) >= count else None

    [notice] = await wait_until(lambda: delivered(booking["id"]), timeout=30, what="the notice delivered, in the booking's log")
    assert (notice["template_key"], notice["channel"], notice["customer_id"]) == ("booking-notice", "sms", customer["id"])
    assert [h["status"] for h in notice["history"]][-1] == "delivered" and notice["delivered_at"] is not None
    [sent] = await desk.sandbox()  # the one message so far: the notice
    assert sent["recipient"] == "+46701234567"

    # The staff change the phone: the notification service's next SMS goes to the new number.
    await desk.call("PATCH", f"/customers/{customer['id']}", {"phone": "+46709876543"})
    later = datetime.now(UTC) + timedelta(days=21)
    await desk.call("POST", f"/bookings/{booking['id']}/reschedule", {"starts_at": later.isoformat(), "estimate": "PT1H"})
    log = await wait_until(lambda: delivered(booking["id"], 2), timeout=30, what="the new notice delivered, in the log")
    assert len(log) == 2
    notices = await desk.sandbox()  # newest first: the notice of the new time went to the new number
    assert [n["recipient"] for n in notices] == ["+46709876543", "+46701234567"]

    card = await desk.call("GET", f"/customers/{customer['id']}")
    assert [e["kind"] for e in card["communication_log"]] == ["message", "message"]
    assert {e["message"]["id"] for e in card["communication_log"]} == {m["id"] for m in log}


async def test_consent_given_and_withdrawn_through_the_staff_api_reaches_the_notification_service(stack: Stack, kafka):
    """The test plays the recall service asking for a marketing message: with consent given by
    staff it goes out, once consent is withdrawn it is withheld with the reason, and both show in
    the customer's communication log."""
    desk = await Desk.open(stack)
    customer = await desk.call("POST", "/customers", {"name": "Åsa Öberg", "phone": "+46701234567", "language": "sv"}, status=201)
    snapshot = CustomerSnapshot(customer_id=customer["id"], name="Åsa Öberg", phone="+46701234567", language="sv")

    async def marketing_message() -> dict:
        """Ask for a book-again SMS and wait for how it ended, as the customer card shows it."""
        before = len((await desk.call("GET", f"/customers/{customer['id']}"))["communication_log"])
        reminder = uuid.uuid4()
        await kafka.publish_envelope(envelope(SendNotification(
            idempotency_key=f"book-again:{reminder}", customer=snapshot, channels=["sms"], template_key="book-again",
            data={"service": "klippning", "booking_url": "https://salong.example/book/x"}, purpose="marketing",
            regarding=f"book-again:{reminder}"), desk.id))

        async def ended():
            log = (await desk.call("GET", f"/customers/{customer['id']}"))["communication_log"]
            done = [e for e in log[before:] if e["message"] and e["message"]["status"] in ("delivered", "suppressed", "failed")]
            return done[-1]["message"] if done else None

        return await wait_until(ended, timeout=30, what="the marketing message to end")

    async def until(status: str) -> dict:
        """Consent travels on its own topic: ask again until the notification service has heard of it."""
        for _ in range(10):
            message = await marketing_message()
            if message["status"] == status:
                return message
        raise AssertionError(f"no marketing message ended {status}")

    await desk.call("PATCH", f"/customers/{customer['id']}", {"marketing_consent": True})
    sent = await until("delivered")
    assert (sent["template_key"], sent["channel"]) == ("book-again", "sms")
    await desk.call("PATCH", f"/customers/{customer['id']}", {"marketing_consent": False})
    withheld = await until("suppressed")
    assert "consent" in withheld["reason"]
