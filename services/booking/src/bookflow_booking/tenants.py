"""Tenant administration: create or change a tenant's settings (time zone, language, flow and its
timings, letter folder, channels, and how customers reach the business). The operator creates a
tenant (the operator token); the tenant's administrators change its settings afterwards. Every
change is published as `tenant.updated`, so the other services keep the settings they need."""
from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field, field_validator

from bookflow_booking import domain, handlers, views
from bookflow_booking.dependencies import KnownStaff, TenantId
from bookflow_contracts import Channel
from bookflow_runtime.auth import issue_staff_token, operator, staff_with
from bookflow_runtime.http import Session
from bookflow_runtime.inputs import ClockTime, Duration, Email, Line, Phone

router = APIRouter(prefix="/tenants/{tenant_id}", tags=["tenants"])
Administrator = staff_with("administrator")
_DEFAULT = domain.Tenant("default")

Timing = Duration(timedelta(days=365))
LetterFolder = Annotated[Line(200), Field(
    pattern=r"^[A-Za-z0-9_-][A-Za-z0-9._-]*(/[A-Za-z0-9_-][A-Za-z0-9._-]*)*$",
    description="A folder name under the notification service's letters root, such as `pinea` or `pinea/north`; "
                "no absolute path, and no part starting with a dot (so no `..`).")]


class TenantIn(BaseModel):
    """A tenant's settings; what is left out keeps its default. Durations are ISO 8601 (P10D, PT30S)."""

    model_config = ConfigDict(extra="forbid")
    name: Line(200, min_length=1)
    time_zone: Line(64) = Field(_DEFAULT.time_zone, description="IANA zone, such as Europe/Oslo.")
    language: Literal["sv", "nb", "da", "nl", "en"] = _DEFAULT.language
    flow: Literal["confirmation", "letter", "none"] = Field(_DEFAULT.flow, description="Which flow new bookings follow.")
    reminder_before: Timing = Field(_DEFAULT.reminder_before, description="A3: the SMS reminder this long before the visit.")
    release_after_reminder: Timing = Field(_DEFAULT.release_after_reminder, description="A4: release this long after the reminder.")
    letter_response_time: Timing = Field(_DEFAULT.letter_response_time, description="B4: wait this long for a reply to a letter.")
    sms_response_time: Timing = Field(_DEFAULT.sms_response_time, description="B4: wait this long for a reply to a booking SMS.")
    appointment_reminder_at: ClockTime = Field(_DEFAULT.appointment_reminder_at.strftime("%H:%M"), validate_default=True,
                                               description="B6: the day before, at this local time (HH:MM).")
    letter_folder: LetterFolder | None = Field(None, description="Where the notification service writes letters (B2), under its letters root.")
    channels: list[Channel] = Field(list(_DEFAULT.channels), min_length=1, max_length=3, description="Channels the tenant uses.")
    reply_number: Annotated[Phone, Field(pattern=r"^\+?[0-9]{3,15}$")] | None = Field(
        None, description="Where customers send their replies (B2, B3): a number in E.164 form or a short code.")
    phone: Line(40) | None = Field(None, description="The business's phone number for customers, as messages and letters print it (08-123 45 67).")
    email: Email | None = Field(None, description="The business's e-mail address for customers.")
    website: Annotated[Line(200), Field(pattern=r"^\S+$")] | None = Field(None, description="The business's web address for customers (acme.se).")

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value


class TenantOut(TenantIn):
    model_config = ConfigDict(extra="ignore")
    id: str
    staff_token: str | None = Field(None, description="For convenience: a planner's token for this tenant.")


def _tenant(tenant_id: str, body: TenantIn) -> domain.Tenant:
    return domain.Tenant(tenant_id, **body.model_dump(exclude={"channels"}), channels=tuple(dict.fromkeys(body.channels)))


def _out(tenant: domain.Tenant, staff_token: str | None = None) -> TenantOut:
    fields = {k: getattr(tenant, k) for k in TenantIn.model_fields}
    return TenantOut(id=tenant.id, staff_token=staff_token, **fields | {"channels": list(tenant.channels)})


@router.put("", response_model=TenantOut, dependencies=[Depends(operator)], summary="Create or change a tenant (admin)")
async def put_tenant(tenant_id: TenantId, body: TenantIn, session: Session, request: Request) -> TenantOut:
    tenant = _tenant(tenant_id, body)
    await handlers.configure_tenant(session, tenant)
    token = issue_staff_token(request.app.state.settings.staff_token_private_key, tenant_id, "admin", roles=("administrator",))
    return _out(tenant, token)


@router.get("", response_model=TenantOut, summary="The tenant's settings")
async def get_tenant(tenant_id: TenantId, session: Session, staff: KnownStaff) -> TenantOut:
    return _out(await views.tenant(session, tenant_id))


@router.put("/settings", response_model=TenantOut, summary="Change the tenant's settings (its administrators)")
async def put_settings(tenant_id: TenantId, body: TenantIn, session: Session, staff: KnownStaff, admin: Administrator) -> TenantOut:
    """The whole settings, as `PUT /tenants/{tenant_id}` takes them; for a tenant the service has."""
    tenant = _tenant(tenant_id, body)
    await handlers.configure_tenant(session, tenant)
    return _out(tenant)
