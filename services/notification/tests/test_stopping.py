"""Found by the fault campaign (issue 9.10): a service asked to stop while a provider holds one of
its sends must not leave the message `sending` (until a lease runs out, minutes later) nor send
it again after a restart: it is recorded at once as failed with "outcome unknown" (the provider
may or may not have taken it; providers take no idempotency key, so it is not sent twice).
Its own service in this module: the test stops it."""
from __future__ import annotations

import asyncio
import uuid
from functools import partial

import asyncpg

from bookflow_contracts import CustomerSnapshot, SendNotification, TenantUpdated
from bookflow_devstack.testing import envelope, new_tenant, running_service, staff_headers, wait_until
from bookflow_notification.app import create_app


async def test_a_send_interrupted_by_a_stop_is_recorded_as_outcome_unknown_and_not_sent_again(settings, clock, kafka, elks):
    tenant = new_tenant()
    number = f"+4670{uuid.uuid4().int % 10**7:07d}"
    in_flight, let_go = asyncio.Event(), asyncio.Event()

    async def hold(form: dict, _provider_id: str) -> None:
        if form.get("to") == number:
            in_flight.set()
            await let_go.wait()

    elks.before_answer = hold
    try:
        async with running_service(partial(create_app, clock=clock), settings) as (_, client):
            await kafka.publish_envelope(envelope(TenantUpdated(tenant_id=tenant, name="Firma", time_zone="Europe/Stockholm",
                                                                language="sv"), tenant))
            url = f"/tenants/{tenant}/notification-settings"
            await wait_until(lambda: _known(client, url, tenant), timeout=30, what="the tenant to be known")
            configured = await client.put(url, headers=staff_headers(tenant, "administrator"), json={
                "sms_providers": [elks.account("+46766866001")], "quiet_hours_start": "00:00", "quiet_hours_end": "00:00"})
            assert configured.status_code == 200, configured.text
            booking_id = uuid.uuid4()
            await kafka.publish_envelope(envelope(SendNotification(
                idempotency_key=f"booking:{booking_id}:booking-notice", booking_id=booking_id, template_key="booking-notice",
                customer=CustomerSnapshot(customer_id=uuid.uuid4(), name="Åsa Öberg", phone=number, language="sv"), channels=["sms"],
                data={"service": "mätarbyte", "starts_at": "2031-01-20T07:00:00+00:00"}), tenant))
            await asyncio.wait_for(in_flight.wait(), 30)
        # stopped, with the provider still holding the call
        conn = await asyncpg.connect(settings.database_url.replace("postgresql+asyncpg", "postgresql"))
        try:
            status, reason = await conn.fetchrow("SELECT status, reason FROM messages WHERE tenant_id = $1", tenant)
        finally:
            await conn.close()
    finally:
        let_go.set()
        elks.before_answer = None
    assert status == "failed" and reason.startswith("outcome unknown"), (status, reason)
    assert len(elks.to(number)) == 1


async def _known(client, url: str, tenant: str) -> bool:  # noqa: ANN001
    answer = await client.get(url, headers=staff_headers(tenant, "administrator"))
    return answer.status_code == 200 and answer.json().get("time_zone") == "Europe/Stockholm"
