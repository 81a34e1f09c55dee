"""What the booking service's routes take from a request, defined once for the staff API, tenant
administration and My pages: the tenant's id, the handlers' `Deps`, staff of a tenant the service
has, the client's address and an `Idempotency-Key`."""
from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Path, Request

from bookflow_booking import domain, handlers, views
from bookflow_runtime.auth import Staff, StaffOfTenant, staff_with
from bookflow_runtime.errors import NotFound
from bookflow_runtime.http import Session

TenantId = Annotated[str, Path(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$", description="The tenant's id.")]


async def deps_of(request: Request) -> handlers.Deps:
    return request.app.state.deps


Deps = Annotated[handlers.Deps, Depends(deps_of)]
"""The clock and link making the handlers use (set by `create_app`)."""


async def staff_of_known_tenant(staff: StaffOfTenant, tenant_id: TenantId, session: Session) -> Staff:
    """Staff of the tenant in the path, which the service must have: a token for a tenant that
    was never set up (or is gone) finds nothing (404), like a token of another tenant."""
    if not await views.tenant_known(session, tenant_id):
        raise NotFound("no such tenant")
    return staff


KnownStaff = Annotated[Staff, Depends(staff_of_known_tenant)]
"""Any staff member of a tenant the service has."""
Desk = staff_with(*domain.DESK)
"""Receptionists and planners (and administrators): customers, bookings, slots."""
Planner = staff_with("planner")
"""Planners (and administrators): flow B's locking, letters and follow-up, technicians, the catalog."""


async def staff_for_transition(staff: KnownStaff, name: str) -> Staff:
    """Staff allowed the move `name` in the path (`domain.TRANSITION_ROLES`)."""
    staff.require(*domain.TRANSITION_ROLES.get(name, ("planner",)))
    return staff


TransitionStaff = Annotated[Staff, Depends(staff_for_transition)]


async def client_address(request: Request) -> str:
    """The caller's address as the server saw it (behind a proxy, uvicorn's `--forwarded-allow-ips`
    decides whether `X-Forwarded-For` counts)."""
    return request.client.host if request.client else "unknown"


ClientAddress = Annotated[str, Depends(client_address)]

IdempotencyKey = Annotated[
    str | None,
    Header(alias="Idempotency-Key", min_length=1, max_length=200, pattern=r"^[\x21-\x7e]+$",
           description="Any unique string (a UUID, say): a retry with the same key and body gives the first answer "
                       "and makes nothing twice; keys are kept for 48 hours."),
]
