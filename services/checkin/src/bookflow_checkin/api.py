"""The staff API: check-in settings (administrators), the receptionist's list and an
appointment's check-in section, handling items, sharing comments with mechanics, and the
customers' files. Every route is for staff of the tenant in the path (404 across tenants)."""
from __future__ import annotations

import uuid
from datetime import timedelta
from decimal import Decimal
from typing import Annotated, Literal
from urllib.parse import quote

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from bookflow_checkin import domain, handlers, views
from bookflow_runtime.auth import StaffOfTenant, staff_with
from bookflow_runtime.http import Session
from bookflow_runtime.inputs import Day, Duration, Line, Paragraph

router = APIRouter(prefix="/tenants/{tenant_id}", tags=["check-in (staff)"])
Administrator = staff_with("administrator")
Reception = staff_with("receptionist", "planner")


async def deps_of(request: Request) -> handlers.Deps:
    return request.app.state.deps


Deps = Annotated[handlers.Deps, Depends(deps_of)]


class CheckinSettingsIn(BaseModel):
    enabled: bool = Field(description="Send customers the check-in link.")
    link_before: Duration(timedelta(days=60)) = Field(domain.DEFAULT_LINK_BEFORE, description="How long before the appointment (ISO 8601, default P3D).")  # type: ignore[valid-type]
    convert_to_intervention: list[Line(100, min_length=1)] = Field(  # type: ignore[valid-type]
        default_factory=list, max_length=500, description="Services that become a work line when handled.")


@router.get("/checkin-settings", summary="The tenant's check-in settings (C1)")
async def read_settings(tenant_id: str, staff: Administrator, session: Session) -> views.CheckinSettingsView:
    return await views.read_settings(session, staff.tenant_id)


@router.put("/checkin-settings", summary="Change the tenant's check-in settings; upcoming links follow (C1)")
async def save_settings(tenant_id: str, body: CheckinSettingsIn, staff: Administrator, session: Session, deps: Deps) -> views.CheckinSettingsView:
    rules = domain.Rules(body.enabled, body.link_before, frozenset(body.convert_to_intervention))
    return views.settings_view(await handlers.save_settings(session, deps, staff, rules))


@router.get("/appointments", summary="The receptionist's list of a day: pinned appointments first (C4, C7)")
async def day_list(tenant_id: str, staff: Reception, session: Session, deps: Deps,
                   day: Annotated[Day | None, Query(description="The day, in the tenant's time zone; without it, "
                                                    "every appointment from today on.")] = None) -> list[views.AppointmentLine]:
    return await views.day_list(session, staff.tenant_id, day, today=deps.clock())


@router.get("/appointments/{booking_id}", summary="An appointment with its check-in section (C5, C6)")
async def appointment(tenant_id: str, booking_id: uuid.UUID, staff: StaffOfTenant, session: Session, deps: Deps) -> views.AppointmentCheckin:
    return await views.appointment_checkin(session, deps, staff, booking_id)


class InterventionIn(BaseModel):
    service: Line(100, min_length=1) = Field("intervention", description="The work line's service.")  # type: ignore[valid-type]
    description: Line(500) | None = None  # type: ignore[valid-type]
    remark: Paragraph(1000) | None = None  # type: ignore[valid-type]
    price_incl_vat: Decimal | None = Field(None, ge=0, max_digits=12, decimal_places=2)
    vat_rate: Decimal | None = Field(None, ge=0, le=1, max_digits=5, decimal_places=4)


class HandleIn(BaseModel):
    action: Literal["handled", "add-intervention", "drop-intervention"] = Field(description=(
        "`handled` (a service or contact request dealt with), `add-intervention` (a comment's intervention, or a service "
        "set to convert, becomes a work line), `drop-intervention` (the intervention window closed without adding)."))
    intervention: InterventionIn | None = Field(None, description="The intervention as edited; the draft when left out.")


@router.post("/appointments/{booking_id}/items/{item_id}/handle", summary="Handle one check-in item (C5)")
async def handle_item(tenant_id: str, booking_id: uuid.UUID, item_id: uuid.UUID, body: HandleIn, staff: Reception,
                      session: Session, deps: Deps) -> views.HandledItem:
    intervention = domain.Intervention(**body.intervention.model_dump()) if body.intervention else None
    return views.handled_item(await handlers.handle_item(session, deps, staff, booking_id, item_id, body.action, intervention))


class ShareIn(BaseModel):
    visible: bool = Field(description="Mechanics see the comment and its files on the appointment.")


@router.put("/appointments/{booking_id}/comments/{comment_id}/visible-to-mechanics",
            summary="Share a comment and its files with mechanics, or hide it (C6)")
async def share_comment(tenant_id: str, booking_id: uuid.UUID, comment_id: uuid.UUID, body: ShareIn, staff: Reception,
                        session: Session, deps: Deps) -> views.CommentView:
    return views.comment_view(deps, staff.tenant_id, await handlers.share_comment(session, deps, staff, booking_id, comment_id, body.visible))


@router.get("/files/{file_id}", summary="A customer's photo or video (staff of the tenant; technicians: shared ones)",
            response_class=StreamingResponse)
async def file(tenant_id: str, file_id: uuid.UUID, staff: StaffOfTenant, session: Session, deps: Deps) -> StreamingResponse:
    found = await handlers.file_for_staff(session, staff, file_id)
    return StreamingResponse(deps.store.read(found.storage_key), media_type=found.content_type, headers={
        "Content-Length": str(found.size),
        "Content-Disposition": f"inline; filename*=UTF-8''{quote(found.name)}",
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": "private, no-store",
        "Content-Security-Policy": "default-src 'none'; img-src 'self'; media-src 'self'",
    })
