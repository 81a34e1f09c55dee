"""The recall service's HTTP API: every route under `/tenants/{tenant_id}` and only for that
tenant's staff. This module has the customer's booking history and what the routers share; the
book-again routes are in book_again_api, the recall routes in recall_api."""
from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request

from bookflow_recall.handlers import Deps
from bookflow_recall.storage import projection
from bookflow_recall.views import HistoryBooking
from bookflow_runtime.auth import StaffOfTenant
from bookflow_runtime.http import Session

router = APIRouter(tags=["recall"])
TenantId = Annotated[str, Path(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$", description="The tenant's id.")]


async def deps_of(request: Request) -> Deps:
    return request.app.state.deps


Dependencies = Annotated[Deps, Depends(deps_of)]


@router.get("/tenants/{tenant_id}/customers/{customer_id}/bookings", summary="A customer's booking history as recall sees it")
async def customer_history(tenant_id: TenantId, customer_id: uuid.UUID, staff: StaffOfTenant, session: Session) -> list[HistoryBooking]:
    return await projection.history_of(session, tenant_id, customer_id)
