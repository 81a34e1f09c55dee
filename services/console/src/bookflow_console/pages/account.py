"""Logging in and out, setting a password from a one-time link, the start page by role, and the
person's own settings (language)."""
from __future__ import annotations

import re

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from bookflow_console import texts
from bookflow_console.client import ServiceProblem
from bookflow_console.session import (
    LANG, PROFILE, TENANT, Who, api_for, check_csrf, encode_profile, forget_session, language_of, safe_next, set_cookie,
    start_session, viewer,
)
from bookflow_console.web import flash, redirect, render, t

router = APIRouter()
_WRONG_LOGIN = texts._PROBLEMS["wrong-login"]
_TENANT = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")


def home_of(roles: tuple[str, ...] | list[str]) -> str:
    """Where each role starts its day."""
    roles = set(roles)
    if roles == {"technician"}:
        return "/work"
    if "planner" in roles and "administrator" not in roles:
        return "/orders"
    if roles == {"receptionist"}:
        return "/checkin"
    return "/day"


@router.get("/", include_in_schema=False)
async def start(request: Request) -> Response:
    who = await viewer(request)
    return redirect(home_of(who.roles))


@router.get("/login")
async def login_page(request: Request, next: str = "/", tenant: str = "") -> Response:
    return render(request, "login.html", next=safe_next(next), tenant=tenant or request.cookies.get(TENANT, ""), email="")


@router.post("/login", dependencies=[Depends(check_csrf)])
async def login(request: Request) -> Response:
    form = await request.form()
    tenant, email, password = (str(form.get(k) or "").strip() for k in ("tenant", "email", "password"))
    next_path = safe_next(str(form.get("next") or "/"))
    lang = language_of(request)
    error = None
    if not _TENANT.match(tenant):
        error = t(lang, "Write your organisation's id, as your administrator gave it (such as acme).")
    elif not email or not password:
        error = t(lang, "Write your e-mail address and your password.")
    if error is None:
        try:
            logged_in = await api_for(request, None).post("booking", f"/staff-login/{tenant}/sessions",
                                                            {"email": email, "password": str(form.get("password") or "")})
        except ServiceProblem as exc:
            error = texts.problem_words(lang, exc) if exc.status not in (404, 422) else texts.gettext(lang, _WRONG_LOGIN)
        else:
            start_session(request, tenant, logged_in)
            roles = logged_in["staff"]["roles"]
            return redirect(next_path if next_path != "/" else home_of(roles))
    return render(request, "login.html", status=401, next=next_path, tenant=tenant, email=email, error=error)


@router.post("/logout", dependencies=[Depends(check_csrf)])
async def logout(request: Request) -> Response:
    secret, tenant = request.cookies.get("bookflow_session"), request.cookies.get(TENANT)
    if secret and tenant:
        try:
            await api_for(request, None).post("booking", f"/staff-login/{tenant}/sessions/end", {"session": secret})
        except ServiceProblem:
            pass  # the cookies go anyway; the session ends by itself within 8 hours
    forget_session(request)
    flash(request, t(language_of(request), "You have logged out."))
    return redirect("/login")


@router.get("/password/{tenant}/{token}")
async def password_page(request: Request, tenant: str, token: str) -> Response:
    if not _TENANT.match(tenant):
        return render(request, "password.html", status=404, link=None, tenant=tenant, token=token)
    try:
        link = await api_for(request, None).post("booking", f"/staff-login/{tenant}/links/read", {"token": token})
    except ServiceProblem as exc:
        return render(request, "password.html", status=404 if exc.status < 500 else 502, link=None, tenant=tenant, token=token,
                      error=texts.problem_words(language_of(request), exc))
    return render(request, "password.html", link=link, tenant=tenant, token=token)


@router.post("/password/{tenant}/{token}", dependencies=[Depends(check_csrf)])
async def set_password(request: Request, tenant: str, token: str) -> Response:
    form = await request.form()
    password, again = str(form.get("password") or ""), str(form.get("again") or "")
    lang = language_of(request)
    api = api_for(request, None)
    try:
        link = await api.post("booking", f"/staff-login/{tenant}/links/read", {"token": token})
    except ServiceProblem as exc:
        return render(request, "password.html", status=404, link=None, tenant=tenant, token=token, error=texts.problem_words(lang, exc))
    error = None
    if len(password) < 10:
        error = t(lang, "Choose a password of at least 10 characters: a few words you remember are good.")
    elif password != again:
        error = t(lang, "The two passwords are not the same. Write the same password twice.")
    if error is None:
        try:
            staff = await api.post("booking", f"/staff-login/{tenant}/links/password", {"token": token, "password": password})
            logged_in = await api.post("booking", f"/staff-login/{tenant}/sessions", {"email": staff["email"], "password": password})
        except ServiceProblem as exc:
            error = texts.problem_words(lang, exc)
        else:
            start_session(request, tenant, logged_in)
            flash(request, t(logged_in["staff"].get("language") or lang, "Your password is set. Welcome!"))
            return redirect(home_of(logged_in["staff"]["roles"]))
    return render(request, "password.html", status=422, link=link, tenant=tenant, token=token, error=error)


@router.get("/account")
async def account_page(request: Request, who: Who) -> Response:
    me = await who.api.get("booking", f"/tenants/{who.tenant_id}/staff/me")
    return render(request, "account.html", who, me=me)


@router.post("/account", dependencies=[Depends(check_csrf)])
async def change_account(request: Request, who: Who) -> Response:
    form = await request.form()
    language = str(form.get("language") or "")
    if language not in texts.LANGUAGES:
        return redirect("/account")
    me = await who.api.patch("booking", f"/tenants/{who.tenant_id}/staff/me", {"language": language})
    set_cookie(request, PROFILE, encode_profile(language, me.get("technician_id"), me.get("name")), 8 * 3600)
    set_cookie(request, LANG, language, 365 * 86400)
    flash(request, t(language, "Saved. The console now speaks %(language)s.", language=texts.LANGUAGE_NAMES[language]))
    return redirect("/account")
