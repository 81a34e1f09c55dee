"""Recall for staff (E1–E6): settings, templates with steps, customers' recalls, the recall list
with markers, approvals, till sales, and evaluating now."""
from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from bookflow_recall.api import Dependencies, TenantId
from bookflow_recall.handlers import recall
from bookflow_recall.storage import recall as storage
from bookflow_runtime.auth import StaffOfTenant
from bookflow_runtime.http import Session
from bookflow_runtime.inputs import Duration

router = APIRouter(prefix="/tenants/{tenant_id}", tags=["recall"])


class SettingsIn(BaseModel):
    """The tenant's recall settings (seed 004: "Aktiver genindkaldelse", "Vis ikon på kunden ved
    manglende genindkald", "Kør forskudt")."""

    model_config = ConfigDict(extra="forbid")
    enabled: bool = Field(False, description="E1: recall runs for this tenant.")
    flag_missing_recall: bool = Field(False, description="E1: flag customers who had a recalled service but have no active recall.")
    run_offset_days: Annotated[int, Field(ge=0, le=365, description="E2: look at recalls this many days before their date.")] = 0
    day_length: Duration(timedelta(days=1)) = Field(  # type: ignore[valid-type]
        timedelta(days=1), description="How long the tenant's days last: P1D; shorter only in development mode (a tenant on a "
        "seconds scale for demonstrations and tests). Book-again and recall count days of this length from when it is set.")


class SettingsOut(SettingsIn):
    model_config = ConfigDict(extra="ignore")
    tenant_id: str
    time_zone: str | None = Field(description="The tenant's zone as recall knows it (from the booking service); empty until it is here.")


def _out(settings: storage.Settings) -> SettingsOut:
    return SettingsOut(tenant_id=settings.tenant_id, enabled=settings.enabled, flag_missing_recall=settings.flag_missing,
                       run_offset_days=settings.run_offset_days, day_length=settings.day_length, time_zone=settings.time_zone)


@router.get("/recall-settings", summary="The tenant's recall settings (E1, E2)")
async def get_settings(tenant_id: TenantId, staff: StaffOfTenant, session: Session) -> SettingsOut:
    return _out(await storage.settings_of(session, tenant_id))


@router.put("/recall-settings", summary="Change the tenant's recall settings (E1, E2; administrators)")
async def put_settings(tenant_id: TenantId, body: SettingsIn, staff: StaffOfTenant, session: Session, deps: Dependencies) -> SettingsOut:
    return _out(await recall.save_settings(session, deps, staff, storage.Settings(
        tenant_id, body.enabled, body.flag_missing_recall, body.run_offset_days, body.day_length)))
