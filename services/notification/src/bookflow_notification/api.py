"""The notification service's HTTP API: the sandbox's received messages and the communication log."""
from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from bookflow_notification import storage
from bookflow_runtime.service import ServiceRuntime, runtime_of

router = APIRouter()
Runtime = Annotated[ServiceRuntime, Depends(runtime_of)]


@router.get("/sandbox/messages", tags=["sandbox"], summary="Messages the sandbox channel received, newest first")
async def sandbox_messages(
    runtime: Runtime,
    tenant_id: str | None = None,
    recipient: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[dict]:
    async with runtime.db.transaction() as session:
        return await storage.sandbox_inbox(session, tenant_id, recipient, limit)


@router.get("/tenants/{tenant_id}/messages", tags=["communication log"], summary="Messages about a booking or to a customer")
async def communication_log(
    tenant_id: str, runtime: Runtime, booking_id: uuid.UUID | None = None, customer_id: uuid.UUID | None = None
) -> list[dict]:
    async with runtime.db.transaction() as session:
        return await storage.communication_log(session, tenant_id, booking_id, customer_id)
