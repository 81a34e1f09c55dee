"""Recall for staff (E1–E6): settings, templates with steps, customers' recalls, the recall list
with markers, approvals, till sales, and evaluating now."""
from __future__ import annotations

import uuid
from dataclasses import asdict
from datetime import datetime, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field, model_validator

from bookflow_contracts import SaleLine, TillSaleRecorded
from bookflow_recall.api import Dependencies, TenantId
from bookflow_recall.domain import recall as domain
from bookflow_recall.domain.calendar import Unit
from bookflow_recall.domain.recall import Criterion, Fallback, SendChannel
from bookflow_recall.handlers import recall
from bookflow_recall.storage import recall as storage
from bookflow_recall.views import ActionView, EvaluationSummary, MissingRecall, RecallCard, RecallListEntry
from bookflow_runtime.auth import StaffOfTenant, staff_with
from bookflow_runtime.errors import NotFound
from bookflow_runtime.http import Session
from bookflow_runtime.inputs import Day, Duration, Instant, Line

router = APIRouter(prefix="/tenants/{tenant_id}", tags=["recall"])
Administrator = staff_with("administrator")
"""Recall settings and templates are the administrators'."""
RecallDesk = staff_with("planner", "receptionist")
"""The recall list, customers' recalls, markers and approvals: planners and receptionists (and administrators)."""


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
    day_origin: datetime | None = Field(None, description="With days shorter than a day: when the tenant's fast calendar began "
                                                          "(its day then is day 0).")


def _out(settings: storage.Settings) -> SettingsOut:
    return SettingsOut(tenant_id=settings.tenant_id, enabled=settings.enabled, flag_missing_recall=settings.flag_missing,
                       run_offset_days=settings.run_offset_days, day_length=settings.day_length, time_zone=settings.time_zone,
                       day_origin=settings.day_origin)


@router.get("/recall-settings", summary="The tenant's recall settings (E1, E2)")
async def get_settings(tenant_id: TenantId, staff: StaffOfTenant, session: Session) -> SettingsOut:
    return _out(await storage.settings_of(session, tenant_id))


@router.put("/recall-settings", summary="Change the tenant's recall settings (E1, E2; administrators)")
async def put_settings(tenant_id: TenantId, body: SettingsIn, staff: Administrator, session: Session, deps: Dependencies) -> SettingsOut:
    return _out(await recall.save_settings(session, deps, staff, storage.Settings(
        tenant_id, body.enabled, body.flag_missing_recall, body.run_offset_days, body.day_length)))


# --- templates and steps (E3, E4) ------------------------------------------------------------

Marker = Line(100, min_length=1)


class RuleIn(BaseModel):
    """A criterion on the customer's bookings of the service (seed 004: "Gennemført booking",
    "Fremtidig booking", "No show", "Slettet booking", "Ingen booking"), and whether it ends the
    course ("Afslut forløb") instead of letting the step act."""

    model_config = ConfigDict(extra="forbid")
    when: Criterion
    end_course: bool = False


class ActionIn(BaseModel):
    """What the step does: `send` a message (`channel`, `template_key`, `approval`), `auto-book`
    (with a `fallback` when no slot is free: sms, email, letter or recall-list, and the
    `template_key` or `marker` it uses), or `recall-list` (with a `marker`)."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal["send", "auto-book", "recall-list"]
    channel: SendChannel | None = None
    template_key: str = Field("recall", pattern=r"^(recall|custom:[a-z0-9][a-z0-9-]{0,60})$",
                              description="`recall`, or `custom:<name>` for one of the tenant's own templates.")
    approval: Literal["automatic", "staff"] = Field("automatic", description="Send at once, or wait on the recall list for staff.")
    fallback: Fallback | None = None
    marker: Marker | None = Field(None, description="A mark that follows the customer and shows on the recall list.")

    @model_validator(mode="after")
    def _complete(self) -> "ActionIn":
        if self.kind == "send" and self.channel is None:
            raise ValueError("a send action needs a channel: sms, email or letter")
        if self.kind == "auto-book" and self.fallback is None:
            raise ValueError("an auto-book action needs a fallback for when no slot is free: sms, email, letter or recall-list")
        if self.kind != "send" and self.approval == "staff":
            raise ValueError("only messages (send) can wait for staff approval")
        return self


class StepIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    after_days: Annotated[int, Field(ge=0, le=3650, description="Runs this many days after the recall date (seed: \"Kør efter dage\").")]
    criteria: list[RuleIn] = Field(default_factory=list, max_length=5,
                                   description="Empty: the actions always run. Otherwise they run when a criterion without "
                                               "end_course matches; a matching criterion with end_course ends the course.")
    actions: list[ActionIn] = Field(default_factory=list, max_length=5)

    @model_validator(mode="after")
    def _once_each(self) -> "StepIn":
        if len({r.when for r in self.criteria}) != len(self.criteria):
            raise ValueError("each criterion at most once per step")
        return self


class TemplateIn(BaseModel):
    """A recall template (seed 004, "Rediger genindkald-skabelon")."""

    model_config = ConfigDict(extra="forbid")
    name: Line(200, min_length=1)  # type: ignore[valid-type]
    service: Line(100, min_length=1) = Field(description="The service recalled, as bookings name it.")  # type: ignore[valid-type]
    tolerance_days: Annotated[int, Field(ge=0, le=3650, description="A completed booking of the service within this many days "
                                                                    "before the recall date means no recall.")] = 0
    frequency: Annotated[int, Field(ge=1, le=1000)] = Field(description="The next recall date moves this far ahead after a course.")
    frequency_unit: Unit = "months"
    times: Literal["once", "unlimited"] | Annotated[int, Field(ge=1, le=1000)] = Field(
        "unlimited", description="How many courses: once, unlimited, or a number.")
    article_numbers: list[Line(64, min_length=1)] = Field(  # type: ignore[valid-type]
        default_factory=list, max_length=50, description="E5: sold at the till, these move the customer's recall date to the day of the sale.")
    steps: list[StepIn] = Field(min_length=1, max_length=20)

    @model_validator(mode="after")
    def _distinct_days(self) -> "TemplateIn":
        if len({s.after_days for s in self.steps}) != len(self.steps):
            raise ValueError("two steps cannot run on the same day after the recall date")
        return self

    def template(self, tenant_id: str, template_id: uuid.UUID) -> domain.Template:
        times = 1 if self.times == "once" else None if self.times == "unlimited" else self.times
        steps = tuple(domain.Step(s.after_days, tuple(domain.Rule(r.when, r.end_course) for r in s.criteria),
                                  tuple(domain.Action(a.kind, a.channel, a.template_key, a.approval, a.fallback, a.marker) for a in s.actions))
                      for s in self.steps)
        return domain.Template(template_id, tenant_id, self.name, self.service, self.tolerance_days, self.frequency,
                               self.frequency_unit, times, tuple(self.article_numbers), steps)


class TemplateOut(TemplateIn):
    model_config = ConfigDict(extra="ignore")
    id: uuid.UUID
    created_at: datetime
    updated_at: datetime


def _template_out(row: storage.TemplateRow) -> TemplateOut:
    t = row.template
    return TemplateOut.model_construct(
        id=t.id, name=t.name, service=t.service, tolerance_days=t.tolerance_days, frequency=t.frequency, frequency_unit=t.frequency_unit,
        times="once" if t.times == 1 else "unlimited" if t.times is None else t.times, article_numbers=list(t.article_numbers),
        steps=[StepIn.model_construct(after_days=s.after_days, criteria=[RuleIn.model_construct(when=r.when, end_course=r.end_course) for r in s.rules],
                                      actions=[ActionIn.model_construct(**asdict(a)) for a in s.actions]) for s in t.steps],
        created_at=row.created_at, updated_at=row.updated_at)


@router.get("/recall-templates", summary="The tenant's recall templates with their steps (E3, E4)")
async def list_templates(tenant_id: TenantId, staff: StaffOfTenant, session: Session) -> list[TemplateOut]:
    return [_template_out(t) for t in await storage.templates(session, tenant_id)]


@router.post("/recall-templates", status_code=201, summary="Create a recall template with its steps (E3, E4)")
async def create_template(tenant_id: TenantId, body: TemplateIn, staff: Administrator, session: Session, deps: Dependencies) -> TemplateOut:
    return _template_out(await recall.save_template(session, deps, staff, body.template(tenant_id, uuid.uuid4()), new=True))


@router.get("/recall-templates/{template_id}", summary="One recall template")
async def get_template(tenant_id: TenantId, template_id: uuid.UUID, staff: StaffOfTenant, session: Session) -> TemplateOut:
    found = await storage.template(session, tenant_id, template_id)
    if found is None:
        raise NotFound(f"no recall template {template_id}")
    return _template_out(found)


@router.put("/recall-templates/{template_id}", summary="Change a recall template and its steps")
async def put_template(tenant_id: TenantId, template_id: uuid.UUID, body: TemplateIn, staff: Administrator, session: Session,
                       deps: Dependencies) -> TemplateOut:
    return _template_out(await recall.save_template(session, deps, staff, body.template(tenant_id, template_id), new=False))


@router.delete("/recall-templates/{template_id}", summary="Delete a recall template; its customers' active recalls end")
async def delete_template(tenant_id: TenantId, template_id: uuid.UUID, staff: Administrator, session: Session,
                          deps: Dependencies) -> dict[str, int]:
    return {"recalls_ended": await recall.delete_template(session, deps, staff, tenant_id, template_id)}


# --- customers' recalls (E1, E6) -------------------------------------------------------------


class RecallIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    template_id: uuid.UUID
    recall_date: Day = Field(description="The next recall date (seed 004: \"datoen for næste indkaldelse\").")


@router.post("/customers/{customer_id}/recalls", status_code=201, summary="Recall the customer with a template from a date (E6)")
async def activate(tenant_id: TenantId, customer_id: uuid.UUID, body: RecallIn, staff: RecallDesk, session: Session,
                   deps: Dependencies) -> RecallCard:
    return await recall.activate(session, deps, staff, tenant_id, customer_id, body.template_id, body.recall_date)


@router.get("/customers/{customer_id}/recalls", summary="The customer card's recall tab: recalls, steps, actions, marker, flag (E1, E6)")
async def customer_card(tenant_id: TenantId, customer_id: uuid.UUID, staff: StaffOfTenant, session: Session) -> RecallCard:
    return await storage.card(session, tenant_id, customer_id)


@router.delete("/recalls/{recall_id}", summary="End a customer's recall")
async def end_recall(tenant_id: TenantId, recall_id: uuid.UUID, staff: RecallDesk, session: Session, deps: Dependencies) -> RecallCard:
    return await recall.end_recall(session, deps, staff, tenant_id, recall_id)


@router.get("/customers-missing-recall", summary="Customers who had a recalled service but have no active recall (E1)")
async def missing_recall(tenant_id: TenantId, staff: RecallDesk, session: Session) -> list[MissingRecall]:
    return await storage.missing_recalls(session, tenant_id)


class MarkerIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    marker: Marker | None = Field(description="The customer's marker; empty removes it.")  # type: ignore[valid-type]


@router.put("/customers/{customer_id}/marker", summary="Set or remove the customer's marker (E4)")
async def put_marker(tenant_id: TenantId, customer_id: uuid.UUID, body: MarkerIn, staff: RecallDesk, session: Session,
                     deps: Dependencies) -> RecallCard:
    return await recall.set_marker(session, deps, staff, tenant_id, customer_id, body.marker)


# --- the recall list, approvals (E4) ---------------------------------------------------------


@router.get("/recall-list", summary="Customers on the recall list and messages awaiting approval, with markers (E4)")
async def recall_list(tenant_id: TenantId, staff: RecallDesk, session: Session) -> list[RecallListEntry]:
    return await storage.recall_list(session, tenant_id)


@router.post("/recall-list/{action_id}/resolve", summary="Take a customer off the recall list")
async def resolve(tenant_id: TenantId, action_id: uuid.UUID, staff: RecallDesk, session: Session,
                  deps: Dependencies) -> list[RecallListEntry]:
    return await recall.resolve(session, deps, staff, tenant_id, action_id)


@router.post("/recall-actions/{action_id}/approve", summary="Approve a recall message waiting for staff: it is sent")
async def approve(tenant_id: TenantId, action_id: uuid.UUID, staff: RecallDesk, session: Session, deps: Dependencies) -> list[ActionView]:
    return await recall.approve(session, deps, staff, tenant_id, action_id)


@router.post("/recall-actions/{action_id}/reject", summary="Reject a recall message waiting for staff: it is not sent")
async def reject(tenant_id: TenantId, action_id: uuid.UUID, staff: RecallDesk, session: Session, deps: Dependencies) -> list[ActionView]:
    return await recall.reject(session, deps, staff, tenant_id, action_id)


@router.post("/recall/evaluate", summary="Evaluate the tenant's due recall steps now (what the daily run does)")
async def evaluate(tenant_id: TenantId, staff: RecallDesk, session: Session, deps: Dependencies) -> EvaluationSummary:
    return await recall.evaluate_now(session, deps, staff, tenant_id)


# --- till sales (E5) -------------------------------------------------------------------------


class SaleIn(BaseModel):
    """A sale at the till, for tills that cannot produce to Kafka (the same as `sale.recorded`)."""

    model_config = ConfigDict(extra="forbid")
    sale_id: Line(100, min_length=1)  # type: ignore[valid-type]
    customer_id: uuid.UUID | None = None
    customer_number: Line(64, min_length=1) | None = None  # type: ignore[valid-type]
    lines: list[SaleLine] = Field(min_length=1, max_length=500)
    sold_at: Instant

    @model_validator(mode="after")
    def _names_a_customer(self) -> "SaleIn":
        if self.customer_id is None and not self.customer_number:
            raise ValueError("give customer_id or customer_number")
        return self


@router.post("/sales", status_code=202, summary="Record a sale at the till (E5); published on `sales.recorded`")
async def record_sale(tenant_id: TenantId, body: SaleIn, staff: StaffOfTenant, session: Session) -> dict[str, str]:
    await recall.post_sale(session, staff, tenant_id, TillSaleRecorded(**body.model_dump()))
    return {"sale_id": body.sale_id, "status": "accepted"}
