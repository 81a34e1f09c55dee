"""Found by the fault campaign: an administrator who sets the tenant's SMS provider right after
the tenant is created can lose that setting to the notification service's own handling of the
tenant's `tenant.updated` (both read the tenant's settings, change their part and write all of
them back; the one that commits last wins). Then the tenant's SMS silently go elsewhere."""
from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest

from bookflow_devstack.testing import staff_headers
from tests.faults.campaign import OPERATOR, Isolated, call, daytime_zone
from tests.faults.provider import FakeSmsProvider

pytestmark = [pytest.mark.system, pytest.mark.faults]

TENANTS = 30


async def test_an_sms_provider_set_right_after_the_tenant_is_created_is_kept(
        system: Isolated, provider: FakeSmsProvider, client: httpx.AsyncClient) -> None:
    async def onboard(n: int) -> tuple[str, dict]:
        tenant_id = f"r-{uuid.uuid4().hex[:10]}"
        created = await call(client, "PUT", f"{system.url('booking')}/tenants/{tenant_id}", headers=OPERATOR,
                             json={"name": f"Firma {n}", "time_zone": daytime_zone(), "language": "sv", "flow": "confirmation"})
        assert created is not None and created.status_code == 200, created and created.text
        settings = f"{system.url('notification')}/tenants/{tenant_id}/notification-settings"
        admin = staff_headers(tenant_id, "administrator")
        saved = await call(client, "PUT", settings, headers=admin, json={"sms_providers": [provider.account(f"Firma{n}")]})
        assert saved is not None and saved.status_code == 200, saved and saved.text
        for _ in range(150):  # until the notification service has taken in the tenant's tenant.updated
            known = (await call(client, "GET", settings, headers=admin)).json()  # type: ignore[union-attr]
            if known.get("time_zone"):
                return tenant_id, known
            await asyncio.sleep(0.2)
        raise AssertionError(f"the notification service never heard of {tenant_id}")

    onboarded = await asyncio.gather(*(onboard(n) for n in range(TENANTS)))
    lost = [(tenant_id, [a.get("provider") for a in known["settings"]["sms_providers"]])
            for tenant_id, known in onboarded if [a.get("provider") for a in known["settings"]["sms_providers"]] != ["46elks"]]
    assert not lost, f"{len(lost)} of {TENANTS} tenants lost the SMS provider their administrator had just set: {lost}"
