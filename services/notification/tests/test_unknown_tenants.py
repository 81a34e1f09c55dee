"""Issue 9.4 and 9.8: a request for a tenant whose `tenant.updated` this service has not taken in
is never rendered with defaults (UTC times, the tenant's id as its name): it waits, and goes out
as soon as the tenant's settings arrive. A tenant that never comes (the tenants topic was read to
its end after the request, and still nothing) does not exist: nothing is sent, the message fails
with that reason and the request goes to the dead-letter topic."""
import uuid

import asyncpg

from bookflow_contracts import CustomerSnapshot, CustomerUpdated, WithdrawNotifications, booking_key, topics
from bookflow_devstack.testing import daytime_zone, envelope, envelope_of, header, wait_until
from bookflow_notification import templating

DATA = {"service": "mätarbyte", "starts_at": "2031-01-20T07:00:00+00:00"}


async def test_a_request_that_comes_before_its_tenant_waits_and_goes_out_in_the_tenants_zone_language_and_name(office):
    number = office.new_phone()
    request = await office.send(phone=number, language=None, data=DATA, announce_first=False)
    waiting = await office.message_when(request.booking_id, lambda m: m["status"] == "waiting", "the request to wait for its tenant")
    assert waiting["reason"] == "waiting for the tenant's settings"
    assert (await office.client.get("/sandbox/messages", params={"recipient": number})).json() == []

    zone = daytime_zone()  # not the tenant's default, and never in its quiet hours (New York held it from 02:00 to 13:00 UTC)
    await office.announce(zone, "nl")
    sent = await office.message_when(request.booking_id, lambda m: m["status"] == "delivered", "the message once the tenant is known")
    values = {**DATA, "customer": {"name": "Åsa Öberg"}, "tenant": {"name": f"Firma {office.id}", "reply_number": None, "address_lines": []}}
    expected = templating.render(*templating.default_source("booking-notice", "nl"), "booking-notice", values,
                                 zone=zone, language="nl")
    with_defaults = templating.render(*templating.default_source("booking-notice", "sv"), "booking-notice",
                                      {**values, "tenant": {**values["tenant"], "name": office.id}}, zone="UTC", language="sv")
    assert sent["body"] == expected.body != with_defaults.body
    assert f"Firma {office.id}" in sent["body"]
    assert [h["status"] for h in sent["history"]] == ["waiting", "sent", "delivered"]


async def test_a_request_for_a_tenant_that_does_not_exist_is_dead_lettered_and_nothing_is_sent(office, kafka):
    number = office.new_phone()
    request = await office.send(phone=number, announce_first=False)
    failed = await office.message_when(request.booking_id, lambda m: m["status"] == "failed", "the ghost tenant's request to fail")
    assert failed["reason"] == "unknown tenant"
    async with kafka.reader(topics.DEAD_LETTER, topics.NOTIFICATION_STATUS) as reader:
        records = await reader.wait_for(lambda r: header(r, "tenant-id") == office.id, count=2)
    [dead] = [r for r in records if r.topic == topics.DEAD_LETTER]
    assert header(dead, "dead-letter-reason").startswith("unknown-tenant")
    assert (header(dead, "original-topic"), header(dead, "event-type")) == (topics.NOTIFICATION_REQUESTS, "notification.send")
    assert envelope_of(dead).payload["idempotency_key"] == request.idempotency_key
    [status] = [r for r in records if r.topic == topics.NOTIFICATION_STATUS]
    assert (envelope_of(status).payload["status"], envelope_of(status).payload["reason"]) == ("failed", "unknown tenant")
    assert (await office.client.get("/sandbox/messages", params={"recipient": number})).json() == []
    assert [m["status"] for m in await wait_until(lambda: office.log(request.booking_id), what="the log")] == ["failed"]


async def test_a_withdrawal_and_a_customer_change_for_a_tenant_that_does_not_exist_are_dead_lettered(office, kafka):
    """Not handled as if the tenant existed, not retried for ever: once the tenants topic has been
    read past them (plus the slack), they go to the dead-letter topic with reason `unknown-tenant`."""
    booking_id = uuid.uuid4()
    withdrawal = envelope(WithdrawNotifications(regarding=booking_key(booking_id), reason="the booking was confirmed",
                                                booking_id=booking_id), office.id)
    customer = envelope(CustomerUpdated(customer=CustomerSnapshot(customer_id=uuid.uuid4(), name="Åsa"), marketing_consent=True),
                        office.id)
    async with kafka.reader(topics.DEAD_LETTER) as reader:
        await kafka.publish_envelope(withdrawal)
        await kafka.publish_envelope(customer)
        dead = await reader.wait_for(lambda r: header(r, "tenant-id") == office.id, count=2, timeout=30)
    by_event = {envelope_of(r).event_id: r for r in dead}
    assert set(by_event) == {withdrawal.event_id, customer.event_id}
    for record in dead:
        assert header(record, "dead-letter-reason").startswith("unknown-tenant"), header(record, "dead-letter-reason")


async def test_a_customer_change_that_comes_just_before_its_tenant_waits_for_it_and_is_kept(office, kafka, settings):
    customer_id = uuid.uuid4()
    change = envelope(CustomerUpdated(customer=CustomerSnapshot(customer_id=customer_id, name="Åsa"), marketing_consent=True), office.id)
    async with kafka.reader(topics.DEAD_LETTER) as reader:
        await kafka.publish_envelope(change)
        await office.announce()
        conn = await asyncpg.connect(settings.database_url.replace("postgresql+asyncpg", "postgresql"))
        try:
            kept = await wait_until(lambda: conn.fetchval("SELECT marketing FROM consents WHERE tenant_id = $1", office.id),
                                    what="the consent to be kept")
        finally:
            await conn.close()
        assert kept is True
        assert [r for r in await reader.poll() if header(r, "tenant-id") == office.id] == []
