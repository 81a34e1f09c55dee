"""Found by the fault campaign: a tenant's notification settings are written by two hands, the
administrator's settings API (SMS providers) and the notification service's handling of
`tenant.updated` from the booking service (reply number, letter folder, contact details). Both
read the settings, change their part and write all of them back, so when the two meet, the one
that commits last wins and the other's change is silently lost: a tenant's SMS provider set just
as the tenant is created or changed goes missing (seen in the campaign: a tenant's SMS went to
the sandbox), or a changed reply number never arrives.

The meeting is made to happen every time: the test holds the tenant's row lock in the
notification service's database while the administrator's save and then the handling of
`tenant.updated` both read and queue up behind it, and lets go. Both changes must survive."""
from __future__ import annotations

import asyncio
import random
import time
import uuid

import asyncpg
import httpx
import pytest

from bookflow_devstack.testing import staff_headers
from tests.faults.campaign import OPERATOR, Isolated, call, daytime_zone
from tests.faults.provider import FakeSmsProvider

pytestmark = [pytest.mark.system, pytest.mark.faults]


async def until(check, what: str, within: float = 30.0) -> None:  # noqa: ANN001
    deadline = time.monotonic() + within
    while not await check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


async def test_the_providers_staff_save_and_the_tenants_own_changes_both_survive_when_they_meet(
        system: Isolated, provider: FakeSmsProvider, client: httpx.AsyncClient) -> None:
    tenant_id = f"r-{uuid.uuid4().hex[:10]}"
    admin = staff_headers(tenant_id, "administrator")
    booking_url = f"{system.url('booking')}/tenants/{tenant_id}"
    settings_url = f"{system.url('notification')}/tenants/{tenant_id}/notification-settings"
    tenant = {"name": "Firma", "time_zone": daytime_zone(), "language": "sv", "flow": "confirmation"}
    created = await call(client, "PUT", booking_url, headers=OPERATOR, json=tenant)
    assert created is not None and created.status_code == 200, created and created.text

    async def described() -> dict:
        answer = await call(client, "GET", settings_url, headers=admin)
        return answer.json() if answer is not None and answer.status_code == 200 else {}

    async def known() -> bool:
        return bool((await described()).get("time_zone"))

    await until(known, "the notification service to know the tenant")
    reply_number = f"+4670{random.randrange(10**7):07d}"
    conn = await asyncpg.connect(system.postgres.url(f"{system.stack.database_prefix}notification", "postgresql"))

    async def waiting() -> int:
        return await conn.fetchval("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()")

    saving: asyncio.Task | None = None
    try:
        lock = conn.transaction()
        await lock.start()
        await conn.execute("SELECT 1 FROM tenants WHERE tenant_id = $1 FOR UPDATE", tenant_id)
        try:
            # The administrator saves the SMS provider; its write waits for the row.
            saving = asyncio.create_task(call(client, "PUT", settings_url, headers=admin, within=60,
                                              json={"sms_providers": [provider.account("Firma")]}))
            await until(lambda: _at_least(waiting, 1), "the administrator's save to wait for the tenant's row")
            # Meanwhile the tenant's reply number is changed at the booking service; its tenant.updated waits too.
            changed = await call(client, "PUT", booking_url, headers=OPERATOR, json={**tenant, "reply_number": reply_number})
            assert changed is not None and changed.status_code == 200, changed and changed.text
            await until(lambda: _at_least(waiting, 2), "the handling of tenant.updated to wait for the tenant's row")
        finally:
            await lock.commit()
        saved = await saving
        assert saved is not None and saved.status_code == 200, saved and saved.text
    finally:
        if saving is not None and not saving.done():
            saving.cancel()
        await conn.close()

    async def reply_number_arrived() -> bool:
        return (await described()).get("settings", {}).get("reply_number") == reply_number

    arrived = True
    try:
        await until(reply_number_arrived, "the changed reply number", within=15)
    except AssertionError:
        arrived = False
    settings = (await described())["settings"]
    providers = [a.get("provider") for a in settings["sms_providers"]]
    assert providers == ["46elks"] and arrived, (
        f"one change lost the other: SMS providers {providers} (the administrator set 46elks), reply number "
        f"{settings.get('reply_number')!r} (the booking service announced {reply_number!r})")


async def _at_least(count, n: int) -> bool:  # noqa: ANN001
    return await count() >= n
