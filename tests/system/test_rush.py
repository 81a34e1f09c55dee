"""The 18:00 rush, small (issue 17): a thousand work orders ready for execution whose day-before
reminders (B6) all come due at one instant, through the five services as processes on the real
broker and databases: scheduler → `reminder.due` → booking → `notification.requests` →
notification → the SMS provider (the sandbox of the shared system). Reconciled exactly: every
order's reminder reaches the provider once, none twice, none for an order cancelled just before
the instant. No timing is asserted: `./bookflow bench rush` measures it."""
from __future__ import annotations

import asyncio
import random
import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest
from aiokafka import AIOKafkaProducer

from bookflow_contracts import ReplyReceived, encode, topics
from bookflow_devstack.processes import Stack
from bookflow_devstack.testing import OPERATOR, envelope, new_tenant, wait_until
from tests.system.conftest import daytime_zone

pytestmark = pytest.mark.system

ORDERS = 1000
CANCELLED = 10
REMINDER_TEXT = "Vi vill påminna om"  # the Swedish appointment-reminder's own words (the booking SMS has others)
REPLIES_LEAD = timedelta(seconds=25)  # time given to 1,000 replies to make the orders ready before the instant


class Office:
    """The utility's planning office: its tenant, settings and staff calls."""

    def __init__(self, stack: Stack, zone: str) -> None:
        self.stack, self.zone, self.id = stack, zone, new_tenant()
        self.booking = f"{stack.services['booking'].url}/tenants/{self.id}"
        self.headers: dict[str, str] = {}
        self.client = httpx.AsyncClient(timeout=120, limits=httpx.Limits(max_connections=8))

    async def configure(self, reminder_at: str) -> None:
        answer = await self.client.put(self.booking, headers=OPERATOR, json={
            "name": "Elnätet", "time_zone": self.zone, "language": "sv", "flow": "letter", "reply_number": "+46700000000",
            "sms_response_time": "PT2H", "appointment_reminder_at": reminder_at})
        assert answer.status_code == 200, answer.text
        self.headers = {"Authorization": f"Bearer {answer.json()['staff_token']}"}

    async def call(self, method: str, path: str, json: dict | None = None, status: int = 200, **params):
        answer = await self.client.request(method, f"{self.booking}{path}", headers=self.headers, json=json, params=params)
        assert answer.status_code == status, answer.text
        return answer.json()

    async def sandbox_sms(self) -> list[dict]:
        """The newest thousand SMS the tenant's provider (the sandbox) took, newest first."""
        answer = await self.client.get(f"{self.stack.services['notification'].url}/sandbox/messages",
                                       params={"tenant_id": self.id, "limit": 1000})
        answer.raise_for_status()
        return [m for m in answer.json() if m["channel"] == "sms"]

    async def timers(self, booking_id: str) -> list[dict]:
        answer = await self.client.get(f"{self.stack.services['scheduler'].url}/timers", headers=OPERATOR,
                                       params={"tenant_id": self.id, "prefix": f"booking:{booking_id}:"})
        answer.raise_for_status()
        return answer.json()


async def publish_replies(kafka, tenant_id: str, orders: list[dict], codes: dict[str, str]) -> None:
    """Every customer answers "OK" to their booking SMS from their own phone, in one batch."""
    producer = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap_servers, enable_idempotence=False, linger_ms=5)
    await producer.start()
    try:
        sent = []
        for order in orders:
            env = envelope(ReplyReceived(reply_id=uuid.uuid4(), channel="sms", sender=order["phone"], recipient="+46700000000",
                                         text=f"{codes[order['id']]} OK", received_at=datetime.now(UTC), provider="sandbox"),
                           tenant_id)
            sent.append(await producer.send(topics.REPLY_RECEIVED, encode(env), key=env.key.encode(), headers=env.headers()))
        await asyncio.gather(*sent)
    finally:
        await producer.stop()


async def test_a_thousand_day_before_reminders_due_at_one_instant_reach_the_provider_once_each(stack: Stack, kafka):
    zone = daytime_zone()
    office = Office(stack, zone)
    try:
        await office.configure("18:00")
        technician = await office.call("POST", "/technicians", {"name": "Montör"}, status=201)
        tomorrow = (datetime.now(ZoneInfo(zone)) + timedelta(days=1)).replace(hour=7, minute=0, second=0, microsecond=0)
        prefix = f"+4673{random.randrange(10**5):05d}"

        async def order(i: int) -> dict:
            return await office.call("POST", "/bookings", {
                "customer": {"name": f"Kund {i}", "phone": f"{prefix}{i:03d}", "language": "sv", "preferred_channel": "sms"},
                "service": "mätarbyte", "starts_at": (tomorrow + timedelta(seconds=30 * i)).isoformat(), "estimate": "PT30S",
                "technician_id": technician["id"], "sequence": i, "place": {"street": f"Storgatan {i}", "postcode": "11122",
                                                                            "city": "Stockholm"}}, status=201)

        orders = await asyncio.gather(*(order(i) for i in range(ORDERS)))
        ids = [o["id"] for o in orders]
        locked = await office.call("POST", "/orders/lock", {"booking_ids": ids})
        assert locked["refused"] == []
        codes = {r["booking_id"]: r["booking_code"] for r in locked["locked"]}
        sent = await office.call("POST", "/orders/letters", {"by": "sms"})
        assert len(sent["sent"]) == ORDERS

        async def booking_sms_sent():  # the booking SMS first, so the reminders are the provider's newest
            got = await office.sandbox_sms()
            return got if len(got) == ORDERS else None

        await wait_until(booking_sms_sent, timeout=120, interval=0.5, what="the thousand booking SMS at the provider")

        # The instant: the day before tomorrow's visits, a few seconds from now, to the second.
        instant = (datetime.now(ZoneInfo(zone)) + REPLIES_LEAD).replace(microsecond=0)
        assert instant.date() == tomorrow.date() - timedelta(days=1)
        await office.configure(instant.strftime("%H:%M:%S"))
        await publish_replies(kafka, office.id, orders, codes)

        async def all_ready():
            ready = await office.call("GET", "/bookings", state=["ready-for-execution"])
            return ready if len(ready) == ORDERS else None

        await wait_until(all_ready, timeout=120, interval=0.5, what="every order ready for execution")
        # Cancelled in the minute before the instant: its reminder must not go, however the race ends.
        cancelled = random.sample(orders, CANCELLED)
        for o in cancelled:
            await office.call("POST", f"/bookings/{o['id']}/transitions/cancel", {"reason": "the customer moved"})
        kept = [o for o in orders if o not in cancelled]

        async def reminders() -> list[dict]:
            return [m for m in await office.sandbox_sms() if REMINDER_TEXT in m["body"]]

        await wait_until(lambda: _at_least(reminders, len(kept)), timeout=180, interval=0.5, what="every reminder at the provider")

        async def settled(o: dict) -> bool:
            """The cancelled order's reminder was cancelled at the scheduler, or fired and reached booking."""
            [timer] = [t for t in await office.timers(o["id"]) if t["timer_key"].endswith(":appointment-reminder")]
            if timer["state"] == "cancelled":
                return True
            view = await office.call("GET", f"/bookings/{o['id']}")
            return timer["state"] == "fired" and any(r["timer_key"] == timer["timer_key"] for r in view["reminders_received"])

        for o in cancelled:
            await wait_until(lambda o=o: settled(o), timeout=60, interval=0.5, what="the cancelled order's reminder settled")

        got = await reminders()
        to = [m["recipient"] for m in got]
        assert sorted(to) == sorted(o["phone"] for o in kept)  # every kept order once: none missing, none twice
        assert not {o["phone"] for o in cancelled} & set(to)
        assert all(datetime.fromisoformat(m["received_at"]) >= instant for m in got)  # the day before at its time, not sooner
    finally:
        await office.client.aclose()


async def _at_least(read, n: int):
    got = await read()
    return got if len(got) >= n else None
