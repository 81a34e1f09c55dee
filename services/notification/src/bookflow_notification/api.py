"""Staff's HTTP API (bearer token of the tenant): the communication log, the tenant's
notification settings, templates with preview, SMS usage per payer and month, messages per day
and template, and letters' PDFs. Each route is one handler call (writes) or one read query (reads).

Roles (an administrator has every role): settings and templates are the administrators';
the communication log, usage and letters are for administrators and planners; a receptionist
reads the communication about one booking (the log asked with `booking_id`), as at the front
desk; a technician reads none of it."""
from __future__ import annotations

import uuid
from datetime import date
from pathlib import Path as FilePath
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import FileResponse

from bookflow_contracts import Channel
from bookflow_notification import handlers, views
from bookflow_notification.settings import NotificationSettings
from bookflow_notification.tenant_settings import TenantNotificationSettings
from bookflow_runtime.auth import StaffOfTenant, staff_with
from bookflow_runtime.errors import InvalidInput, NotFound
from bookflow_runtime.http import Session

TenantId = Annotated[str, Path(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$", description="The tenant's id.")]
TemplateKey = Annotated[str, Path(max_length=100, pattern=r"^(custom:)?[a-z0-9][a-z0-9-]*$", description="The template's key.")]
Language = Literal["sv", "nb", "da", "nl", "en"]
Administrator = staff_with("administrator")
Planner = staff_with("planner")
MOST_DAYS = 366  # a year of days per question: the console asks for 30


async def _service_settings(request: Request) -> NotificationSettings:
    return request.app.state.settings


ServiceSettings = Annotated[NotificationSettings, Depends(_service_settings)]

router = APIRouter(prefix="/tenants/{tenant_id}")


@router.get("/messages", tags=["communication log"], summary="Messages about a booking or to a customer, with status history and cost")
async def communication_log(tenant_id: TenantId, staff: StaffOfTenant, session: Session, booking_id: uuid.UUID | None = None,
                            customer_id: uuid.UUID | None = None,
                            channel: Annotated[Channel | None, Query(description="Only messages in this channel, such as `letter`.")] = None,
                            ) -> list[views.LoggedMessage]:
    """Administrators and planners; a receptionist only about one booking (with `booking_id`)."""
    if booking_id is not None:
        staff.require("planner", "receptionist")
    else:
        staff.require("planner")
    return await views.communication_log(session, tenant_id, booking_id, customer_id, channel)


@router.get("/notification-settings", tags=["settings"], summary="The tenant's notification settings, secrets masked (administrator)")
async def get_settings(tenant_id: TenantId, staff: Administrator, session: Session) -> views.TenantDescription:
    return await views.tenant_description(session, tenant_id)


@router.put("/notification-settings", tags=["settings"], summary="Set the tenant's providers, quiet hours, prices and payer (administrator)")
async def put_settings(tenant_id: TenantId, body: TenantNotificationSettings, staff: Administrator, session: Session,
                       service: ServiceSettings) -> views.TenantDescription:
    """Secrets come back masked as `***` from GET; sending `***` back keeps the stored secret."""
    return await handlers.save_settings(session, tenant_id, body, service)


@router.get("/templates", tags=["templates"], summary="Every template key with its placeholders, defaults and the tenant's saved versions (administrator)")
async def list_templates(tenant_id: TenantId, staff: Administrator, session: Session) -> list[views.TemplateInfo]:
    return await views.templates(session, tenant_id)


@router.put("/templates/{template_key}/{channel}/{language}", tags=["templates"],
            summary="Save the tenant's template; refused with line and reason if it is not valid (administrator)")
async def save_template(tenant_id: TenantId, template_key: TemplateKey, channel: Channel, language: Language, body: views.TemplateIn,
                        staff: Administrator, session: Session) -> views.SavedTemplate:
    return await handlers.save_template(session, tenant_id, template_key, channel, language, body, staff)


@router.post("/templates/{template_key}/{channel}/{language}/preview", tags=["templates"],
             summary="Render a draft or the current template with example values (administrator)")
async def preview(tenant_id: TenantId, template_key: TemplateKey, channel: Channel, language: Language, body: views.PreviewIn,
                  staff: Administrator, session: Session) -> views.Preview:
    return await handlers.preview_template(session, tenant_id, template_key, channel, language, body)


@router.get("/usage", tags=["cost"], summary="Delivered SMS per payer and month: messages, segments, amount (planner)")
async def usage(tenant_id: TenantId, staff: Planner, session: Session,
                month: Annotated[str | None, Query(pattern=r"^\d{4}-(0[1-9]|1[0-2])$", description="YYYY-MM; all months when empty")] = None,
                ) -> list[views.Usage]:
    return await views.usage(session, tenant_id, month)


@router.get("/usage/daily", tags=["cost"],
            summary="Messages sent, delivered and failed per day (in the tenant's zone), template and channel (planner)")
async def daily_usage(tenant_id: TenantId, staff: Planner, session: Session,
                      first: Annotated[date, Query(alias="from", description="The first day, YYYY-MM-DD.")],
                      last: Annotated[date, Query(alias="to", description=f"The last day, YYYY-MM-DD; at most {MOST_DAYS} days after `from`.")],
                      ) -> list[views.DailyUsage]:
    """Days without messages are left out; a message counts on the day it was sent, on the day it
    was delivered and on the day it failed."""
    if last < first:
        raise InvalidInput("`to` is before `from`")
    if (last - first).days >= MOST_DAYS:
        raise InvalidInput(f"ask for at most {MOST_DAYS} days at a time")
    return await views.daily_usage(session, tenant_id, first, last)


@router.get("/letters/{message_id}", tags=["letters"], response_class=FileResponse, summary="A letter's PDF (planner)",
            responses={200: {"content": {"application/pdf": {}}, "description": "The letter as it was written to the letter folder."}})
async def letter(tenant_id: TenantId, message_id: uuid.UUID, staff: Planner, session: Session) -> FileResponse:
    """404 for another tenant's message, a message that is not a letter, or a letter not written
    (yet) or no longer in the folder."""
    path = await views.letter_of_tenant(session, tenant_id, message_id)
    if path is None or not FilePath(path).is_file():
        raise NotFound("no such letter")
    return FileResponse(path, media_type="application/pdf", filename=FilePath(path).name,
                        headers={"Cache-Control": "private, no-store"})
