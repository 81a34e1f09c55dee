"""A tenant's notification settings: provider secrets are sealed in the database, masked over
HTTP, and kept when the masked settings are sent back."""
import sqlalchemy as sa

from bookflow_devstack.testing import wait_until
from bookflow_notification import storage


async def stored_settings(runtime, tenant_id: str) -> dict:
    async with runtime.db.transaction() as session:
        return (await session.execute(sa.select(storage.tenants.c.settings).where(storage.tenants.c.tenant_id == tenant_id))).scalar()


async def test_provider_secrets_are_sealed_in_the_database_and_masked_over_http(service, office, elks):
    runtime, _ = service
    account = elks.account("+46766860031")
    described = await office.configure(sms_providers=[account])

    assert described["settings"]["sms_providers"][0]["password"] == "***"
    assert described["settings"]["sms_providers"][0]["webhook_secret"] == "***"
    row = await stored_settings(runtime, office.id)
    text = str(row)
    assert account["password"] not in text and account["webhook_secret"] not in text
    assert row["sms_providers"][0]["password"].startswith("sealed:v1:")


async def test_sending_the_masked_settings_back_keeps_the_secrets_and_sms_still_goes_out(service, office, elks):
    await office.configure(sms_providers=[elks.account("+46766860032")], quiet_hours_start="00:00", quiet_hours_end="00:00")
    shown = (await office.client.get(f"/tenants/{office.id}/notification-settings", headers=office.headers)).json()["settings"]

    await office.configure(**{**shown, "sms_price_per_segment": "0.95"})  # secrets sent back as ***

    number = office.new_phone()
    request = await office.send(phone=number)
    await wait_until(lambda: elks.to(number), what="46elks to take the SMS with the kept password")
    sent = await office.message_when(request.booking_id, lambda m: m["status"] == "sent", "the message to be sent")
    assert sent["provider"] == "46elks"


async def test_a_masked_secret_for_a_new_account_is_refused(office, elks, twilio):
    await office.configure(sms_providers=[elks.account("+46766860033")])
    new_account = {**twilio.account("+46766860034"), "password": "***"}
    response = await office.client.put(f"/tenants/{office.id}/notification-settings", json={"sms_providers": [new_account]},
                                       headers=office.headers)
    assert response.status_code == 409
    assert "password is ***" in response.json()["detail"]


async def test_settings_that_make_no_sense_are_refused_with_the_field(office):
    response = await office.client.put(f"/tenants/{office.id}/notification-settings", json={"sms_providers": [{"provider": "carrier-pigeon"}]},
                                       headers=office.headers)
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"].startswith("body.sms_providers.0")


async def test_secrets_sealed_with_a_key_the_service_lacks_hold_the_sms_and_say_so(service, office, elks):
    """An operator who dropped a key too early: nothing is sent with a wrong password, nothing is
    lost, and the settings API says what is wrong."""
    from cryptography.fernet import Fernet

    runtime, _ = service
    await office.announce()
    foreign = "sealed:v1:" + Fernet(Fernet.generate_key()).encrypt(b"the real password").decode()
    account = {**elks.account("+46766860035"), "password": foreign}
    async with runtime.db.transaction() as session:
        await storage.save_tenant(session, office.id, settings={"sms_providers": [account], "quiet_hours_start": "00:00",
                                                                 "quiet_hours_end": "00:00"})
    number = office.new_phone()
    request = await office.send(phone=number)

    async def held():
        async with runtime.db.transaction() as session:
            row = (await session.execute(sa.select(storage.messages).where(storage.messages.c.booking_id == request.booking_id))).first()
        return row is not None and row.status == "queued" and (row.not_before - row.created_at).total_seconds() > 30

    await wait_until(held, what="the message to be held for a minute")
    assert elks.to(number) == []
    response = await office.client.get(f"/tenants/{office.id}/notification-settings", headers=office.headers)
    assert response.status_code == 503
    assert response.json()["code"] == "secrets-key-missing"
