"""The recall service's HTTP API."""
from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends

from bookflow_recall import storage
from bookflow_runtime.auth import StaffOfTenant
from bookflow_runtime.http import runtime_of
from bookflow_runtime.runtime import ServiceRuntime

router = APIRouter(tags=["recall"])
Runtime = Annotated[ServiceRuntime, Depends(runtime_of)]


@router.get("/tenants/{tenant_id}/customers/{customer_id}/bookings", summary="A customer's booking history as recall sees it")
async def customer_history(tenant_id: str, customer_id: uuid.UUID, _: StaffOfTenant, runtime: Runtime) -> list[dict]:
    async with runtime.db.transaction() as session:
        return await storage.history_of(session, tenant_id, customer_id)
