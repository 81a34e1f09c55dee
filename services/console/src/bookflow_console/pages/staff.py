"""Staff management for administrators: who has an account and with which roles, inviting a
person (a one-time link to set a password, shown once to hand over), resetting a password,
changing roles and removing a person."""
from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from bookflow_console import texts
from bookflow_console.client import ServiceProblem
from bookflow_console.pages.bookings import technicians
from bookflow_console.session import Viewer, Who, check_csrf, is_uuid
from bookflow_console.web import flash, redirect, render, t

router = APIRouter()


async def _page(request: Request, who: Viewer, *, link: dict[str, Any] | None = None, problem: dict[str, Any] | None = None,
                status: int = 200, draft: dict[str, Any] | None = None) -> Response:
    people = await who.api.get("booking", f"/tenants/{who.tenant_id}/staff")
    return render(request, "staff.html", who, status=status, people=people, names=await technicians(who), link=link, problem=problem,
                  draft=draft or {}, roles=list(texts.ROLES))


def set_password_url(request: Request, who: Viewer, token: str) -> str:
    return f"{request.app.state.settings.base_url()}/password/{who.tenant_id}/{token}"


@router.get("/staff")
async def staff_page(request: Request, who: Who) -> Response:
    who.require("administrator")
    return await _page(request, who)


@router.post("/staff/invite", dependencies=[Depends(check_csrf)])
async def invite(request: Request, who: Who) -> Response:
    who.require("administrator")
    form = await request.form()
    draft = {"name": str(form.get("name") or "").strip(), "email": str(form.get("email") or "").strip(),
             "roles": [r for r in form.getlist("roles") if r in texts.ROLES], "language": str(form.get("language") or "") or None,
             "technician_id": str(form.get("technician_id") or "") or None}
    if not draft["roles"]:
        return await _page(request, who, status=422, draft=draft, problem={"text": t(who, "Choose at least one role.")})
    try:
        invited = await who.api.post("booking", f"/tenants/{who.tenant_id}/staff/invitations", draft)
    except ServiceProblem as exc:
        if exc.status in (401, 404) or exc.status >= 500:
            raise
        return await _page(request, who, status=422, draft=draft, problem={
            "text": texts.problem_words(who.language, exc), "fields": texts.field_problems(who.language, exc)})
    link = {"name": invited["staff"]["name"], "url": set_password_url(request, who, invited["link"]["token"]),
            "expires_at": invited["link"]["expires_at"], "purpose": "invitation"}
    return await _page(request, who, link=link)


@router.post("/staff/{staff_id}/reset", dependencies=[Depends(check_csrf)])
async def reset(request: Request, who: Who, staff_id: str) -> Response:
    who.require("administrator")
    if not is_uuid(staff_id):
        raise ServiceProblem("booking", 404, "not-found")
    made = await who.api.post("booking", f"/tenants/{who.tenant_id}/staff/resets", {"staff_id": staff_id})
    person = next((p for p in await who.api.get("booking", f"/tenants/{who.tenant_id}/staff") if p["id"] == staff_id), {})
    link = {"name": person.get("name", ""), "url": set_password_url(request, who, made["token"]), "expires_at": made["expires_at"],
            "purpose": "reset"}
    return await _page(request, who, link=link)


@router.post("/staff/{staff_id}/roles", dependencies=[Depends(check_csrf)])
async def change_roles(request: Request, who: Who, staff_id: str) -> Response:
    who.require("administrator")
    form = await request.form()
    roles = [r for r in form.getlist("roles") if r in texts.ROLES]
    if not is_uuid(staff_id) or not roles:
        flash(request, t(who, "Choose at least one role."), "problem")
        return redirect("/staff")
    body: dict[str, Any] = {"staff_id": staff_id, "roles": roles}
    technician = str(form.get("technician_id") or "")
    if is_uuid(technician):
        body["technician_id"] = technician
    try:
        await who.api.post("booking", f"/tenants/{who.tenant_id}/staff/changes", body)
    except ServiceProblem as exc:
        if exc.status in (401, 404) or exc.status >= 500:
            raise
        flash(request, texts.problem_words(who.language, exc) + " " + exc.detail, "problem")
        return redirect("/staff")
    flash(request, t(who, "Saved. The new roles apply from their next page, within 15 minutes at most."))
    return redirect("/staff")


@router.post("/staff/{staff_id}/remove", dependencies=[Depends(check_csrf)])
async def remove(request: Request, who: Who, staff_id: str) -> Response:
    who.require("administrator")
    if not is_uuid(staff_id):
        raise ServiceProblem("booking", 404, "not-found")
    try:
        await who.api.post("booking", f"/tenants/{who.tenant_id}/staff/removals", {"staff_id": staff_id})
    except ServiceProblem as exc:
        if exc.status in (401, 404) or exc.status >= 500:
            raise
        flash(request, texts.problem_words(who.language, exc), "problem")
        return redirect("/staff")
    flash(request, t(who, "Removed. They can no longer log in, and their open session ends within 15 minutes."))
    return redirect("/staff")
