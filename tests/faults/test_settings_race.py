"""Found by the fault campaign: an administrator who sets the tenant's SMS provider right after
the tenant is created can lose that setting to the notification service's own handling of the
tenant's `tenant.updated`: both read the tenant's settings, change their part and write all of
them back, and the one that commits last wins. The tenant's SMS then silently go elsewhere.

The race is made to happen every time: the test holds a SHARE lock on the notification
service's `tenants` table (reads pass, writes wait), lets the administrator's save and then the
service's `tenant.updated` both read and queue up behind it, and lets go. A service that merges
its part into what is stored (or serialises the two per tenant) keeps the provider."""
from __future__ import annotations

import asyncio
import time
import uuid

import asyncpg
import httpx
import pytest

from bookflow_devstack.testing import staff_headers
from tests.faults.campaign import OPERATOR, Isolated, call, daytime_zone
from tests.faults.provider import FakeSmsProvider

pytestmark = [pytest.mark.system, pytest.mark.faults]


async def waiting_writers(conn: asyncpg.Connection) -> int:
    return await conn.fetchval("SELECT count(*) FROM pg_locks WHERE NOT granted AND relation = 'tenants'::regclass")


async def until(check, what: str, within: float = 30.0) -> None:  # noqa: ANN001
    deadline = time.monotonic() + within
    while not await check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


async def test_an_sms_provider_set_while_the_tenant_is_being_announced_is_kept(
        system: Isolated, provider: FakeSmsProvider, client: httpx.AsyncClient) -> None:
    tenant_id = f"r-{uuid.uuid4().hex[:10]}"
    admin = staff_headers(tenant_id, "administrator")
    settings_url = f"{system.url('notification')}/tenants/{tenant_id}/notification-settings"
    conn = await asyncpg.connect(system.postgres.url(f"{system.stack.database_prefix}notification", "postgresql"))
    saving: asyncio.Task | None = None
    try:
        lock = conn.transaction()
        await lock.start()
        await conn.execute("LOCK TABLE tenants IN SHARE MODE")
        try:
            # The administrator saves the provider: its write waits behind the lock.
            saving = asyncio.create_task(call(client, "PUT", settings_url, headers=admin, within=60,
                                              json={"sms_providers": [provider.account("Firma")]}))
            await until(lambda: _at_least(conn, 1), "the administrator's save to wait for the lock")
            # The booking service announces the tenant; the notification service's write of it queues up too.
            created = await call(client, "PUT", f"{system.url('booking')}/tenants/{tenant_id}", headers=OPERATOR,
                                 json={"name": "Firma", "time_zone": daytime_zone(), "language": "sv", "flow": "confirmation"})
            assert created is not None and created.status_code == 200, created and created.text
            await until(lambda: _at_least(conn, 2), "the notification service's handling of tenant.updated to wait for the lock")
        finally:
            await lock.commit()
        saved = await saving
        assert saved is not None and saved.status_code == 200, saved and saved.text
    finally:
        if saving is not None and not saving.done():
            saving.cancel()
        await conn.close()

    async def announced() -> bool:
        answer = await call(client, "GET", settings_url, headers=admin)
        return answer is not None and answer.status_code == 200 and bool(answer.json().get("time_zone"))

    await until(announced, "the notification service to know the tenant")
    described = (await call(client, "GET", settings_url, headers=admin)).json()  # type: ignore[union-attr]
    providers = [a.get("provider") for a in described["settings"]["sms_providers"]]
    assert providers == ["46elks"], f"the SMS provider the administrator set was lost: the tenant now sends by {providers}"


async def _at_least(conn: asyncpg.Connection, n: int) -> bool:
    return await waiting_writers(conn) >= n
