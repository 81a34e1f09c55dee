"""The check-in service's HTTP API."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from bookflow_checkin import storage
from bookflow_runtime.auth import StaffOfTenant
from bookflow_runtime.http import runtime_of
from bookflow_runtime.runtime import ServiceRuntime

router = APIRouter(tags=["check-in"])
Runtime = Annotated[ServiceRuntime, Depends(runtime_of)]


@router.get("/tenants/{tenant_id}/appointments", summary="Appointments check-in knows of, by start")
async def appointments(tenant_id: str, _: StaffOfTenant, runtime: Runtime) -> list[dict]:
    async with runtime.db.transaction() as session:
        return await storage.appointments_of(session, tenant_id)
