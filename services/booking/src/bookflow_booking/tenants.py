"""Tenant administration: create or change a tenant's settings (time zone, language, flow and its
timings, letter folder, channels, and how customers reach the business). Guarded by the admin token; every change is published as
`tenant.updated`, so the other services keep the settings they need."""
from __future__ import annotations

from datetime import time, timedelta
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import APIRouter, Depends, Path, Request
from pydantic import BaseModel, ConfigDict, EmailStr, Field, field_validator

from bookflow_booking import domain, storage
from bookflow_contracts import Channel
from bookflow_runtime import outbox
from bookflow_runtime.auth import StaffOfTenant, issue_staff_token, operator
from bookflow_runtime.http import runtime_of
from bookflow_runtime.runtime import ServiceRuntime

router = APIRouter(prefix="/tenants/{tenant_id}", tags=["tenants"])
Runtime = Annotated[ServiceRuntime, Depends(runtime_of)]
TenantId = Annotated[str, Path(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$", description="The tenant's id.")]
_DEFAULT = domain.Tenant("default")


class TenantIn(BaseModel):
    """A tenant's settings; what is left out keeps its default. Durations are ISO 8601 (P10D, PT30S)."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200)
    time_zone: str = Field(_DEFAULT.time_zone, description="IANA zone, such as Europe/Oslo.")
    language: Literal["sv", "nb", "da", "nl", "en"] = _DEFAULT.language
    flow: Literal["confirmation", "letter", "none"] = Field(_DEFAULT.flow, description="Which flow new bookings follow.")
    reminder_before: timedelta = Field(_DEFAULT.reminder_before, description="A3: the SMS reminder this long before the visit.")
    release_after_reminder: timedelta = Field(_DEFAULT.release_after_reminder, description="A4: release this long after the reminder.")
    letter_response_time: timedelta = Field(_DEFAULT.letter_response_time, description="B4: wait this long for a reply to a letter.")
    sms_response_time: timedelta = Field(_DEFAULT.sms_response_time, description="B4: wait this long for a reply to a booking SMS.")
    appointment_reminder_at: time = Field(_DEFAULT.appointment_reminder_at, description="B6: the day before, at this local time.")
    letter_folder: str | None = Field(None, description="Where the notification service writes letters (B2).")
    channels: list[Channel] = Field(list(_DEFAULT.channels), min_length=1, description="Channels the tenant uses.")
    reply_number: str | None = Field(None, description="Where customers send their replies (B2, B3).")
    phone: str | None = Field(None, max_length=40, description="The business's phone number for customers, as messages and letters print it (08-123 45 67).")
    email: EmailStr | None = Field(None, description="The business's e-mail address for customers.")
    website: str | None = Field(None, max_length=200, pattern=r"^\S+$", description="The business's web address for customers (acme.se).")

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @field_validator("reminder_before", "release_after_reminder", "letter_response_time", "sms_response_time")
    @classmethod
    def _positive(cls, value: timedelta) -> timedelta:
        if value <= timedelta(0):
            raise ValueError("must be a positive duration")
        return value


class TenantOut(TenantIn):
    model_config = ConfigDict(extra="ignore")
    id: str
    staff_token: str | None = Field(None, description="For convenience: a planner's token for this tenant.")


def _out(tenant: domain.Tenant, staff_token: str | None = None) -> TenantOut:
    fields = {k: getattr(tenant, k) for k in TenantIn.model_fields}
    return TenantOut(id=tenant.id, staff_token=staff_token, **fields | {"channels": list(tenant.channels)})


@router.put("", response_model=TenantOut, dependencies=[Depends(operator)], summary="Create or change a tenant (admin)")
async def put_tenant(tenant_id: TenantId, body: TenantIn, runtime: Runtime) -> TenantOut:
    tenant = domain.Tenant(tenant_id, **body.model_dump(exclude={"channels"}), channels=tuple(body.channels))
    async with runtime.db.transaction() as session:
        await storage.save_tenant(session, tenant)
        await outbox.put(session, tenant.updated_event(), tenant_id=tenant_id)
    token = issue_staff_token(runtime.settings.staff_token_private_key, tenant_id, "admin", roles=("administrator",))
    return _out(tenant, token)


@router.get("", response_model=TenantOut, summary="The tenant's settings")
async def get_tenant(tenant_id: TenantId, runtime: Runtime, staff: StaffOfTenant) -> TenantOut:
    async with runtime.db.transaction() as session:
        return _out(await storage.tenant(session, tenant_id))
