"""Tenant settings for administrators: the booking flow and its timings, time zone and language
(booking; changed by an operator today), quiet hours, SMS providers with their secrets masked,
prices and payers (notification), and check-in (checkin)."""
from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from bookflow_console import texts
from bookflow_console.client import ServiceProblem
from bookflow_console.session import Viewer, Who, check_csrf
from bookflow_console.web import flash, redirect, render, t

router = APIRouter()
MASK = "***"
_DAYS = re.compile(r"^P(\d+)D$")


async def _page(request: Request, who: Viewer, problem: dict[str, Any] | None = None, status: int = 200) -> Response:
    tenant = await who.api.get("booking", f"/tenants/{who.tenant_id}")
    notification = await who.api.get("notification", f"/tenants/{who.tenant_id}/notification-settings")
    try:
        checkin = await who.api.get("checkin", f"/tenants/{who.tenant_id}/checkin-settings")
    except ServiceProblem as exc:
        if exc.status == 401:
            raise
        checkin = None
    return render(request, "settings.html", who, status=status, tenant=tenant, n=notification["settings"], checkin=checkin,
                  problem=problem, link_days=_link_days(checkin))


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
