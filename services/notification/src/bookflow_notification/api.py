"""Staff's HTTP API (bearer token of the tenant): the communication log, the tenant's
notification settings, templates with preview, and SMS usage per payer and month."""
from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Query
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, ValidationError

from bookflow_contracts import Channel, TenantNotificationSettings
from bookflow_contracts.templates import TEMPLATES
from bookflow_notification import sealing, segments, storage, tenancy, templating
from bookflow_notification.default_templates import LANGUAGES
from bookflow_runtime.auth import StaffOfTenant
from bookflow_runtime.errors import Conflict, NotFound
from bookflow_runtime.http import runtime_of
from bookflow_runtime.runtime import ServiceRuntime

router = APIRouter(prefix="/tenants/{tenant_id}")
Runtime = Annotated[ServiceRuntime, Depends(runtime_of)]
Language = Literal["sv", "nb", "da", "nl", "en"]


@router.get("/messages", tags=["communication log"], summary="Messages about a booking or to a customer, with status history and cost")
async def communication_log(
    tenant_id: str, staff: StaffOfTenant, runtime: Runtime, booking_id: uuid.UUID | None = None, customer_id: uuid.UUID | None = None
) -> list[dict]:
    async with runtime.db.transaction() as session:
        return await storage.communication_log(session, tenant_id, booking_id, customer_id)


# --- settings --------------------------------------------------------------------------------

_SECRETS = sealing.SECRET_FIELDS
_MASK = "***"


def _masked(settings: TenantNotificationSettings) -> dict[str, Any]:
    return sealing.map_secrets(settings.model_dump(mode="json"), lambda _: _MASK)


def _with_kept_secrets(new: dict[str, Any], stored: TenantNotificationSettings) -> dict[str, Any]:
    """`new` with each `***` replaced by the secret stored for the same account (same place in
    the list, same provider and login); refused where there is none to keep."""
    before = stored.model_dump(mode="json")

    def kept(account: Any, old: dict[str, Any] | None) -> Any:
        if not isinstance(account, dict):
            return account  # not an account: validation says what is wrong
        account = dict(account)
        for key in _SECRETS:
            if account.get(key) == _MASK:
                same = old is not None and (old.get("provider"), old.get("username")) == (account.get("provider"), account.get("username"))
                if not same or not old.get(key):
                    raise Conflict(f"{key} is {_MASK} but no secret is stored for this account to keep: give the secret")
                account[key] = old[key]
        return account

    merged = dict(new)
    if isinstance(new.get("sms_providers"), list):
        olds = before["sms_providers"]
        merged["sms_providers"] = [kept(a, olds[i] if i < len(olds) else None) for i, a in enumerate(new["sms_providers"])]
    for key in sealing.ACCOUNTS:
        if new.get(key):
            merged[key] = kept(new[key], before[key])
    return merged


def _described(view: tenancy.TenantView) -> dict[str, Any]:
    """The tenant as this service knows it: name, zone and language from `tenant.updated`, and
    the notification settings (secrets masked)."""
    return {"name": view.name, "time_zone": view.zone, "language": view.language, "settings": _masked(view.settings)}


@router.get("/notification-settings", tags=["settings"], summary="The tenant's notification settings (secrets masked)")
async def get_settings(tenant_id: str, staff: StaffOfTenant, runtime: Runtime) -> dict:
    async with runtime.db.transaction() as session:
        return _described(tenancy.view(tenant_id, await storage.tenant(session, tenant_id)))


@router.put(
    "/notification-settings", tags=["settings"], summary="Set the tenant's providers, quiet hours, prices and payer (admin)",
    openapi_extra={"requestBody": {"required": True, "content": {"application/json": {"schema": TenantNotificationSettings.model_json_schema()}}}},
)
async def put_settings(tenant_id: str, body: Annotated[dict[str, Any], Body()], staff: StaffOfTenant, runtime: Runtime) -> dict:
    """A `TenantNotificationSettings`. Secrets come back masked as `***` from GET; sending `***`
    back keeps the stored secret."""
    staff.require("admin")
    async with runtime.db.transaction() as session:
        stored = tenancy.view(tenant_id, await storage.tenant(session, tenant_id)).settings
        try:
            settings = TenantNotificationSettings.model_validate(_with_kept_secrets(body, stored))
        except ValidationError as exc:
            raise RequestValidationError(exc.errors(include_url=False), body=body) from exc
        for account in settings.sms_providers:
            if account.provider == "46elks" and not account.webhook_secret:
                raise Conflict("a 46elks account needs a webhook_secret: 46elks signs nothing, so the secret checks its callbacks")
        taken = await storage.set_receiving_numbers(session, tenant_id, tenancy.receiving_numbers(settings))
        if taken:
            raise Conflict(f"{taken} already receives for another tenant")
        await storage.save_tenant(session, tenant_id, settings=settings.model_dump(mode="json"))
        return _described(tenancy.view(tenant_id, await storage.tenant(session, tenant_id)))


# --- templates -------------------------------------------------------------------------------


class TemplateIn(BaseModel):
    subject: str = Field("", max_length=300, description="E-mail subject or letter heading; unused for SMS.")
    body: str = Field(min_length=1, max_length=10_000, description="The text, in Jinja2 syntax: {{ service }}, {{ starts_at|datetime }}.")


class PreviewIn(BaseModel):
    subject: str | None = Field(None, description="A draft subject; the saved or default one when empty.")
    body: str | None = Field(None, description="A draft body; the saved or default one when empty.")
    data: dict[str, Any] = Field(default_factory=dict, description="Placeholder values; examples fill the rest.")


def _rejected(field: str, exc: templating.TemplateRejected) -> JSONResponse:
    return JSONResponse(
        {"error": "template-invalid", "detail": f"{field} {exc}", "field": field, "line": exc.line, "reason": exc.reason}, status_code=422
    )


def _known_key(template_key: str) -> None:
    if template_key not in TEMPLATES:
        raise NotFound(f"no template key {template_key!r}")


@router.get("/templates", tags=["templates"], summary="Every template key with its placeholders, defaults and the tenant's saved versions")
async def list_templates(tenant_id: str, staff: StaffOfTenant, runtime: Runtime) -> list[dict]:
    async with runtime.db.transaction() as session:
        saved = await storage.saved_templates(session, tenant_id)
    return [
        {
            "template_key": key, "purpose": spec.purpose, "description": spec.description,
            "placeholders": [*spec.placeholders, *templating.ALWAYS_AVAILABLE],
            "defaults": {lang: dict(zip(("subject", "body"), templating.default_source(key, lang), strict=True)) for lang in LANGUAGES},
            "saved": [{"channel": t.channel, "language": t.language, "subject": t.subject, "body": t.body, "updated_at": t.updated_at}
                      for t in saved if t.template_key == key],
        }
        for key, spec in TEMPLATES.items()
    ]


@router.put("/templates/{template_key}/{channel}/{language}", tags=["templates"], summary="Save the tenant's template; refused with line and reason if it is not valid")
async def save_template(tenant_id: str, template_key: str, channel: Channel, language: Language, body: TemplateIn,
                        staff: StaffOfTenant, runtime: Runtime) -> Any:
    _known_key(template_key)
    for field, source in (("subject", body.subject), ("body", body.body)):
        try:
            templating.check(template_key, source)
        except templating.TemplateRejected as exc:
            return _rejected(field, exc)
    async with runtime.db.transaction() as session:
        await storage.save_template(session, tenant_id=tenant_id, template_key=template_key, channel=channel, language=language,
                                    subject=body.subject, body=body.body, updated_by=staff.subject)
    return {"template_key": template_key, "channel": channel, "language": language, "subject": body.subject, "body": body.body}


@router.post("/templates/{template_key}/{channel}/{language}/preview", tags=["templates"], summary="Render a draft or the current template with example values")
async def preview(tenant_id: str, template_key: str, channel: Channel, language: Language, body: PreviewIn,
                  staff: StaffOfTenant, runtime: Runtime) -> Any:
    _known_key(template_key)
    async with runtime.db.transaction() as session:
        tenant = tenancy.view(tenant_id, await storage.tenant(session, tenant_id))
        saved = {(t.channel, t.language): (t.subject, t.body) for t in await storage.saved_templates(session, tenant_id, template_key)}
    subject, text = saved.get((channel, language)) or templating.default_source(template_key, language)
    subject, text = body.subject if body.subject is not None else subject, body.body if body.body is not None else text
    for field, source in (("subject", subject), ("body", text)):
        try:
            templating.check(template_key, source)
        except templating.TemplateRejected as exc:
            return _rejected(field, exc)
    values = {**templating.sample_values(template_key), **body.data,
              "customer": body.data.get("customer") or {"name": "Kim Kund"}, "tenant": tenant.template_values()}
    try:
        rendered = templating.render(subject, text, template_key, values, zone=tenant.zone or "UTC", language=language, channel=channel)
    except templating.CannotRender as exc:
        return JSONResponse({"error": "cannot-render", "detail": str(exc)}, status_code=422)
    size = segments.measure(rendered.body)
    return {"subject": rendered.subject, "body": rendered.body, "segments": size.segments, "encoding": size.encoding}


# --- usage -----------------------------------------------------------------------------------


@router.get("/usage", tags=["cost"], summary="Delivered SMS per payer and month: messages, segments, amount")
async def usage(tenant_id: str, staff: StaffOfTenant, runtime: Runtime,
                month: Annotated[str | None, Query(pattern=r"^\d{4}-\d{2}$", description="YYYY-MM; all months when empty")] = None) -> list[dict]:
    async with runtime.db.transaction() as session:
        view = tenancy.view(tenant_id, await storage.tenant(session, tenant_id))
        return await storage.usage(session, tenant_id, view.zone or "UTC", month)
