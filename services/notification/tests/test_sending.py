"""The notification service on the real broker and PostgreSQL: a request becomes one message in
the sandbox, readable over HTTP; the same request twice sends once."""
import uuid

import pytest

from bookflow_contracts import CustomerSnapshot, SendNotification, topics
from bookflow_devstack.testing import envelope, envelope_of, header, new_tenant, running_service, wait_until
from bookflow_notification import MIGRATIONS
from bookflow_notification.app import create_app
from bookflow_notification.settings import NotificationSettings


@pytest.fixture(scope="module")
def settings(make_database, kafka) -> NotificationSettings:
    return NotificationSettings(database_url=make_database("notification", MIGRATIONS), kafka_bootstrap_servers=kafka.bootstrap_servers)


def notice(phone: str | None = "+4798765432", **kw) -> SendNotification:
    booking_id = uuid.uuid4()
    return SendNotification(
        idempotency_key=f"booking:{booking_id}:notice",
        customer=CustomerSnapshot(customer_id=uuid.uuid4(), name="Ola", phone=phone, language="nb"),
        channels=["sms"], template_key="booking-notice", booking_id=booking_id,
        data={"service": "målerbytte", "starts_at": "mandag 09:00"}, **kw,
    )


async def test_a_request_becomes_one_message_in_the_sandbox_and_is_reported_delivered(settings, kafka):
    tenant = new_tenant()
    request = notice()
    async with running_service(create_app, settings) as (_, client):
        await kafka.publish_envelope(envelope(request, tenant))
        await kafka.publish_envelope(envelope(request, tenant))  # a second request with the same key

        async def inbox():
            return (await client.get("/sandbox/messages", params={"tenant_id": tenant})).json()

        [message] = await wait_until(inbox, what="the sandbox to receive the message")
        assert message["recipient"] == "+4798765432"
        assert message["body"] == "Hei Ola, din time for målerbytte er booket mandag 09:00."
        async with kafka.reader(topics.NOTIFICATION_STATUS) as reader:
            [status] = await reader.wait_for(lambda r: header(r, "tenant-id") == tenant)
        assert envelope_of(status).payload["status"] == "delivered"
        log = (await client.get(f"/tenants/{tenant}/messages", params={"booking_id": str(request.booking_id)})).json()
        assert [(m["channel"], m["status"]) for m in log] == [("sms", "delivered")]
        assert len(await inbox()) == 1


async def test_a_customer_without_a_usable_channel_gets_a_failed_message_with_the_reason(settings, kafka):
    tenant = new_tenant()
    request = notice(phone=None)
    async with running_service(create_app, settings) as (_, client):
        await kafka.publish_envelope(envelope(request, tenant))

        async def log():
            return (await client.get(f"/tenants/{tenant}/messages", params={"booking_id": str(request.booking_id)})).json()

        [message] = await wait_until(log)
        assert (message["status"], message["reason"]) == ("failed", "the customer cannot be reached by any channel of the request")
        assert (await client.get("/sandbox/messages", params={"tenant_id": tenant})).json() == []
