"""Tenant settings for administrators: the business, its booking flow and timings, time zone,
language and how customers reach it (booking), quiet hours, SMS providers with their secrets
masked, prices and payers (notification), and check-in (checkin)."""
from __future__ import annotations

import re
from typing import Any
from zoneinfo import available_timezones

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from bookflow_console import texts
from bookflow_console.client import ServiceProblem
from bookflow_console.session import Viewer, Who, check_csrf
from bookflow_console.web import flash, redirect, render, t

router = APIRouter()
MASK = "***"
_DAYS = re.compile(r"^P(\d+)D$")
_ISO_DURATION = re.compile(r"^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$")
UNITS = {"days": 86400, "hours": 3600, "minutes": 60}
TIMINGS = ("reminder_before", "release_after_reminder", "letter_response_time", "sms_response_time")
ZONES = sorted(z for z in available_timezones() if z.startswith(("Europe/", "Atlantic/", "America/", "Asia/", "Africa/", "Australia/",
                                                                 "Pacific/")) or z == "UTC")
"""The time zones offered (the booking service checks the one given)."""


def amount_and_unit(iso: str | None) -> tuple[int, str]:
    """An ISO 8601 duration as the form shows it: a whole number of days, hours or minutes."""
    found = _ISO_DURATION.match(str(iso or ""))
    if not found:
        return 0, "days"
    days, hours, minutes, seconds = (float(g or 0) for g in found.groups())
    total = int(days * 86400 + hours * 3600 + minutes * 60 + seconds)
    unit = next((u for u, size in UNITS.items() if total % size == 0), "minutes")
    return total // UNITS[unit], unit


def iso_duration(amount: str, unit: str) -> str:
    """What the person typed (a number and a unit) as the ISO 8601 duration the service takes."""
    n = int(amount) if amount.strip().isdigit() else 0
    return f"P{n}D" if unit == "days" else f"PT{n}{'H' if unit == 'hours' else 'M'}"


async def _page(request: Request, who: Viewer, problem: dict[str, Any] | None = None, status: int = 200,
                tenant: dict[str, Any] | None = None) -> Response:
    tenant = tenant or await who.api.get("booking", f"/tenants/{who.tenant_id}")
    notification = await who.api.get("notification", f"/tenants/{who.tenant_id}/notification-settings")
    try:
        checkin = await who.api.get("checkin", f"/tenants/{who.tenant_id}/checkin-settings")
    except ServiceProblem as exc:
        if exc.status == 401:
            raise
        checkin = None
    return render(request, "settings.html", who, status=status, tenant=tenant, n=notification["settings"], checkin=checkin,
                  problem=problem, link_days=_link_days(checkin), timings={k: amount_and_unit(tenant.get(k)) for k in TIMINGS},
                  zones=ZONES, channel_names=texts.CHANNELS)


def _link_days(checkin: dict[str, Any] | None) -> int:
    if not checkin:
        return 3
    found = _DAYS.match(str(checkin.get("link_before") or ""))
    return int(found[1]) if found else 3


@router.get("/settings")
async def settings_page(request: Request, who: Who) -> Response:
    who.require("administrator")
    return await _page(request, who)


def _providers(form: Any, stored: list[dict[str, Any]]) -> list[dict[str, Any]]:
    providers = []
    for i in range(len(stored) + 1):
        kind = str(form.get(f"provider_{i}") or "")
        if not kind or form.get(f"remove_{i}"):
            continue
        account: dict[str, Any] = {"provider": kind, "sender": str(form.get(f"sender_{i}") or "bookflow")}
        for key in ("username", "password", "webhook_secret", "base_url"):
            value = str(form.get(f"{key}_{i}") or "").strip()
            if value:
                account[key] = value
            elif key in ("password", "webhook_secret") and i < len(stored) and stored[i].get(key) == MASK \
                    and stored[i].get("provider") == kind and stored[i].get("username") == account.get("username"):
                account[key] = MASK  # left empty: keep the stored secret
        providers.append(account)
    return providers


def _tenant_body(form: Any, stored: dict[str, Any]) -> dict[str, Any]:
    """The booking service's whole tenant settings from the form (`PUT /tenants/{t}/settings`
    takes them all); an empty optional field clears it."""
    def text(name: str) -> str | None:
        return str(form.get(name) or "").strip() or None

    body: dict[str, Any] = {
        "name": text("name") or stored["name"], "time_zone": text("time_zone") or stored["time_zone"],
        "language": text("language") or stored["language"], "flow": text("flow") or stored["flow"],
        "appointment_reminder_at": text("appointment_reminder_at") or stored["appointment_reminder_at"],
        "channels": [c for c in texts.CHANNELS if form.get(f"channel_{c}")],
        **{k: text(k) for k in ("letter_folder", "reply_number", "phone", "email", "website")},
    }
    for timing in TIMINGS:
        body[timing] = iso_duration(str(form.get(f"{timing}_amount") or ""), str(form.get(f"{timing}_unit") or "days"))
    return body


@router.post("/settings/business", dependencies=[Depends(check_csrf)])
async def save_business(request: Request, who: Who) -> Response:
    """The business, its flow and timings: the booking service's tenant settings."""
    who.require("administrator")
    stored = await who.api.get("booking", f"/tenants/{who.tenant_id}")
    body = _tenant_body(await request.form(), stored)
    try:
        await who.api.put("booking", f"/tenants/{who.tenant_id}/settings", body)
    except ServiceProblem as exc:
        if exc.status in (401, 404) or exc.status >= 500:
            raise
        return await _page(request, who, {"text": texts.problem_words(who.language, exc), "fields": texts.field_problems(who.language, exc)},
                           422, tenant=stored | body)
    request.app.state.tenants.forget(who.tenant_id)  # every page shows the name and the zone
    flash(request, t(who, "Saved. New bookings and messages follow these settings."))
    return redirect("/settings")


@router.post("/settings/notification", dependencies=[Depends(check_csrf)])
async def save_notification(request: Request, who: Who) -> Response:
    who.require("administrator")
    form = await request.form()
    current = (await who.api.get("notification", f"/tenants/{who.tenant_id}/notification-settings"))["settings"]
    payers = {}
    for line in str(form.get("payer_by_template") or "").splitlines():
        key, _, payer = line.partition("=")
        if key.strip() and payer.strip():
            payers[key.strip()] = payer.strip()
    body = current | {
        "quiet_hours_start": str(form.get("quiet_hours_start") or current["quiet_hours_start"]),
        "quiet_hours_end": str(form.get("quiet_hours_end") or current["quiet_hours_end"]),
        "sms_price_per_segment": str(form.get("sms_price_per_segment") or "0").replace(",", "."),
        "currency": str(form.get("currency") or "SEK").upper(),
        "payer": str(form.get("payer") or "tenant"),
        "payer_by_template": payers,
        "sms_providers": _providers(form, current.get("sms_providers") or []),
    }
    try:
        await who.api.put("notification", f"/tenants/{who.tenant_id}/notification-settings", body)
    except ServiceProblem as exc:
        if exc.status in (401, 404) or exc.status >= 500:
            raise
        return await _page(request, who, {"text": texts.problem_words(who.language, exc), "fields": texts.field_problems(who.language, exc)}, 422)
    flash(request, t(who, "Saved. Messages from now on follow these settings."))
    return redirect("/settings")


@router.post("/settings/checkin", dependencies=[Depends(check_csrf)])
async def save_checkin(request: Request, who: Who) -> Response:
    who.require("administrator")
    form = await request.form()
    days = str(form.get("link_days") or "3")
    services = [s.strip() for s in str(form.get("convert_to_intervention") or "").splitlines() if s.strip()]
    body = {"enabled": form.get("enabled") == "on", "link_before": f"P{int(days) if days.isdigit() else 3}D",
            "convert_to_intervention": services}
    try:
        await who.api.put("checkin", f"/tenants/{who.tenant_id}/checkin-settings", body)
    except ServiceProblem as exc:
        if exc.status in (401, 404) or exc.status >= 500:
            raise
        return await _page(request, who, {"text": texts.problem_words(who.language, exc), "fields": texts.field_problems(who.language, exc)}, 422)
    flash(request, t(who, "Saved. Check-in follows these settings from now on."))
    return redirect("/settings")
