"""Issue 10.1: outside development mode there is no sandbox: no /sandbox routes, nothing sent to
it, and a tenant without a real SMS provider or mail server gets a clear failure reason (after
trying its next channel) instead of messages quietly kept in a page anyone could read."""
import secrets
import uuid

import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from bookflow_contracts import CustomerSnapshot, SendNotification, TenantUpdated
from bookflow_devstack.testing import daytime_zone, envelope, new_tenant, running_service, wait_until
from bookflow_notification import MIGRATIONS, storage
from bookflow_notification.app import create_app
from bookflow_notification.settings import NotificationSettings
from bookflow_runtime.auth import issue_staff_token

KEY = Ed25519PrivateKey.generate()
PRIVATE = KEY.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
PUBLIC = KEY.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


@pytest.fixture(scope="module")
def production_settings(make_database, kafka, tmp_path_factory) -> NotificationSettings:
    return NotificationSettings(
        development=False, database_url=make_database("notification", MIGRATIONS), kafka_bootstrap_servers=kafka.bootstrap_servers,
        operator_token=secrets.token_urlsafe(32), link_secret=secrets.token_urlsafe(32), staff_token_public_key=PUBLIC,
        secrets_key=Fernet.generate_key().decode(), letters_dir=str(tmp_path_factory.mktemp("letters")), dispatch_poll_seconds=0.2,
    )


@pytest.fixture(scope="module")
async def production(production_settings):
    assert production_settings.sandbox_enabled is False
    async with running_service(create_app, production_settings) as (runtime, client):
        yield runtime, client


async def test_a_service_outside_development_mode_has_no_sandbox_and_sends_nothing_to_it(production, kafka):
    runtime, client = production
    tenant = new_tenant()
    headers = {"Authorization": f"Bearer {issue_staff_token(PRIVATE, tenant, 'ann', ('administrator',))}"}
    for path in ("/sandbox", "/sandbox/messages", "/sandbox/replies", f"/sandbox/letters/{uuid.uuid4()}"):
        assert (await client.get(path)).status_code == 404
    assert (await client.post(f"/sandbox/messages/{uuid.uuid4()}/answer", data={"text": "STOP"})).status_code == 404
    assert not [p for p in (await client.get("/openapi.json")).json()["paths"] if p.startswith("/sandbox")]
    refused = await client.put(f"/tenants/{tenant}/notification-settings", json={"sms_providers": [{"provider": "sandbox"}]}, headers=headers)
    assert (refused.status_code, refused.json()["code"]) == (422, "sandbox-off")

    zone = daytime_zone()
    await kafka.publish_envelope(envelope(TenantUpdated(tenant_id=tenant, name="Firma", time_zone=zone, language="sv"), tenant))
    await wait_until(lambda: _time_zone(client, tenant, headers, zone), what="the tenant to be known")
    booking_id = uuid.uuid4()
    request = SendNotification(
        idempotency_key=f"b:{booking_id}", booking_id=booking_id, channels=["sms", "email"], template_key="booking-notice",
        customer=CustomerSnapshot(customer_id=uuid.uuid4(), name="Åsa", phone="+46701234567", email="asa@example.se"),
        data={"service": "mätarbyte", "starts_at": "2031-01-20T07:00:00+00:00"},
    )
    await kafka.publish_envelope(envelope(request, tenant))

    async def failed():
        log = (await client.get(f"/tenants/{tenant}/messages", params={"booking_id": str(booking_id)}, headers=headers)).json()
        return log and log[0]["status"] == "failed" and log[0]

    message = await wait_until(failed, what="the message to fail")
    assert message["reason"] == "no e-mail server configured"
    assert "sms failed (no SMS provider configured); trying the next channel" in [h["detail"] for h in message["history"]]
    async with runtime.db.transaction() as session:
        assert (await session.execute(sa.select(sa.func.count()).select_from(storage.sandbox_messages))).scalar() == 0


async def _time_zone(client, tenant: str, headers: dict, zone: str) -> bool:
    response = await client.get(f"/tenants/{tenant}/notification-settings", headers=headers)
    return response.status_code == 200 and response.json()["time_zone"] == zone

