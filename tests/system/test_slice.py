"""The first slice through everything, with each service a separate process: a booking goes in
over HTTP, its notice comes out of the sandbox, its timer fires and comes back; consumers and
relays killed at the worst moment lose nothing and do nothing twice."""
from __future__ import annotations

import json
import os
import re
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from bookflow_contracts import topics
from bookflow_devstack.processes import Stack
from bookflow_devstack.testing import daytime_zone, envelope_of, header, new_tenant, wait_until
from bookflow_devstack.testing import OPERATOR, staff_headers

pytestmark = pytest.mark.system


def booking_request(name: str = "Åsa Öberg", **kw) -> dict:
    start = datetime.now(UTC) + timedelta(days=14)
    return {
        "customer": {"name": name, "phone": "+46701234567", "language": "sv"},
        "service": "mätarbyte",
        "starts_at": start.isoformat(),
        "ends_at": (start + timedelta(hours=1)).isoformat(),
        **kw,
    }


def staff(tenant: str) -> dict:
    """A planner's bearer token for the tenant (the booking service's staff routes need one)."""
    return staff_headers(tenant)


async def get_json(url: str, headers: dict | None = None, **params):
    async with httpx.AsyncClient(timeout=5) as client:
        response = await client.get(url, params=params, headers=headers)
        response.raise_for_status()
        return response.json()


_set_up: set[str] = set()


async def set_up_tenant(stack: Stack, tenant: str, **settings) -> None:
    """The operator creates the tenant (the booking service refuses bookings for tenants it does not have)."""
    async with httpx.AsyncClient(timeout=5) as client:
        response = await client.put(f"{stack.services['booking'].url}/tenants/{tenant}", json={"name": "Pinea", "time_zone": daytime_zone(), **settings}, headers=OPERATOR)
    assert response.status_code == 200, response.text
    _set_up.add(tenant)


async def post_booking(stack: Stack, tenant: str, body: dict, **headers) -> dict:
    if tenant not in _set_up:
        await set_up_tenant(stack, tenant)
    async with httpx.AsyncClient(timeout=5) as client:
        response = await client.post(f"{stack.services['booking'].url}/tenants/{tenant}/bookings", json=body, headers={**staff(tenant), **headers})
    assert response.status_code == 201, response.text
    return response.json()


def sandbox(stack: Stack, tenant: str):
    return get_json(f"{stack.services['notification'].url}/sandbox/messages", tenant_id=tenant)


async def _more(now, before: float) -> bool:
    return await now > before


def metric(text: str, name: str, consumer: str) -> float:
    found = re.search(rf'^{name}{{consumer="{re.escape(consumer)}"}} ([0-9.e+]+)$', text, re.M)
    return float(found.group(1)) if found else 0.0


async def test_a_booking_reaches_the_customer_and_its_reminder_comes_back(stack: Stack):
    tenant = new_tenant()
    reminder_at = datetime.now(UTC) + timedelta(seconds=2)
    booking = await post_booking(stack, tenant, booking_request(reminder_at=reminder_at.isoformat()), **{"X-Correlation-Id": f"corr-{tenant}"})

    [message] = await wait_until(lambda: sandbox(stack, tenant), what="the notice in the sandbox")
    assert message["recipient"] == "+46701234567"
    assert message["body"].startswith("Hej Åsa! Din tid för mätarbyte är bokad till")

    async def reminders():
        view = await get_json(f"{stack.services['booking'].url}/tenants/{tenant}/bookings/{booking['id']}", staff(tenant))
        return view["reminders_received"]

    [reminder] = await wait_until(reminders, what="the reminder to come back from the scheduler")
    assert datetime.fromisoformat(reminder["fired_at"]) >= reminder_at
    assert reminder["timer_key"] == f"booking:{booking['id']}:reminder"

    appointments = await get_json(f"{stack.services['checkin'].url}/tenants/{tenant}/appointments", staff(tenant))
    assert [a["booking_id"] for a in appointments] == [booking["id"]]

    lines = [json.loads(line) for line in stack.services["notification"].log_path.read_text().splitlines() if line.startswith("{")]
    sent = [line for line in lines if line["message"].startswith("sent booking-notice")]
    assert any(line["correlation_id"] == f"corr-{tenant}" and line["tenant_id"] == tenant for line in sent)


async def handled(service, consumer: str) -> float:
    async with httpx.AsyncClient() as client:
        text = (await client.get(f"{service.url}/metrics")).text
    return sum(float(v) for v in re.findall(rf'^bookflow_messages_handled_total{{consumer="{re.escape(consumer)}",[^}}]*}} ([0-9.e+]+)$', text, re.M))


async def test_a_consumer_killed_after_storing_its_effect_does_it_once_after_restart(stack: Stack):
    notification = stack.services["notification"]
    tenant = new_tenant()
    before = await handled(notification, "notification.tenants")
    await set_up_tenant(stack, tenant)  # known to notification before the fault is armed: the fault is for the request
    await wait_until(lambda: _more(handled(notification, "notification.tenants"), before), what="the new tenant to be kept")
    notification.stop()
    notification.start(extra_env={"BOOKFLOW_FAULTS": "consumer.after-commit"})
    notification.wait_ready()
    await post_booking(stack, tenant, booking_request())
    assert notification.wait_exit(timeout=30) == 70  # died between storing the message and committing the offset

    notification.start()
    notification.wait_ready()
    async def duplicate_seen():
        async with httpx.AsyncClient() as client:
            text = (await client.get(f"{notification.url}/metrics")).text
        # The fault hits whichever consumer commits first after the restart (requests or customers).
        return sum(metric(text, "bookflow_duplicates_skipped_total", f"notification.{c}") for c in ("requests", "customers")) >= 1

    await wait_until(duplicate_seen, what="the redelivered request to be recognised")
    # Sending follows storing (the dispatcher, once the requests consumer has caught up): wait for it.
    sent = await wait_until(lambda: sandbox(stack, tenant), what="the notice to be sent")
    assert len(sent) == 1


async def test_a_relay_killed_between_commit_and_publish_publishes_after_restart_once(stack: Stack, kafka):
    booking = stack.services["booking"]
    tenant = new_tenant()
    await set_up_tenant(stack, tenant)  # published before the fault is armed: the fault is for the booking
    async with kafka.reader(topics.TENANT_UPDATED) as reader:
        await reader.wait_for(lambda r: header(r, "tenant-id") == tenant, what="the tenant published")
    booking.stop()
    booking.start(extra_env={"BOOKFLOW_FAULTS": "relay.before-publish"})
    booking.wait_ready()
    try:
        await post_booking(stack, tenant, booking_request())
    except (httpx.HTTPError, AssertionError):
        pass  # the process may die before the response leaves; the commit came first
    assert booking.wait_exit(timeout=30) == 70
    async with kafka.reader(topics.BOOKING_CREATED) as reader:
        await reader.poll()
        assert [r for r in reader.records if header(r, "tenant-id") == tenant] == []

        booking.start()
        booking.wait_ready()
        await wait_until(lambda: sandbox(stack, tenant), what="the notice, published after the restart")
        await reader.wait_for(lambda r: header(r, "tenant-id") == tenant)
        created = [r for r in await reader.poll() if header(r, "tenant-id") == tenant]
        assert len(created) == 1
        assert envelope_of(created[0]).payload["customer"]["name"] == "Åsa Öberg"


async def test_a_malformed_booking_created_is_dead_lettered_while_the_bookings_around_it_are_handled(stack: Stack, kafka):
    tenant = new_tenant()
    before = await post_booking(stack, tenant, booking_request("Before"))
    await kafka.publish(topics.BOOKING_CREATED, b'{"type": "booking.created", "payload": {}}', key=tenant.encode())
    after = await post_booking(stack, tenant, booking_request("After"))

    async def both():
        rows = await get_json(f"{stack.services['checkin'].url}/tenants/{tenant}/appointments", staff(tenant))
        return {a["booking_id"] for a in rows} == {before["id"], after["id"]}

    await wait_until(both, what="both good bookings at check-in")
    async with kafka.reader(topics.DEAD_LETTER) as reader:
        dead = await reader.wait_for(lambda r: r.key == tenant.encode(), count=2)
    assert {header(r, "dead-letter-consumer") for r in dead} == {"recall.bookings", "checkin.bookings"}
    assert all("not a bookflow envelope" in header(r, "dead-letter-reason") for r in dead)
    assert all(r.value == b'{"type": "booking.created", "payload": {}}' for r in dead)

