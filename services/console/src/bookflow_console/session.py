"""Who is looking at a page, from the console's cookies, and what keeps their session safe.

- The staff token (15 minutes) and the session secret (8 hours) are kept in HttpOnly,
  SameSite=Strict cookies (Secure when the console is reached over https); the page's script
  never sees them. A token with less than 5 minutes left is renewed with the session secret at
  the booking service, which checks the account as it is now (removed people, new roles).
- A session that ended sends the person to the login page, and back to the page they were on.
- Every form carries a CSRF token that must match the `bookflow_csrf` cookie (a double submit:
  another site can neither read the cookie nor set it, and SameSite=Strict keeps the token
  cookie off its requests anyway).
"""
from __future__ import annotations

import base64
import hmac
import json
import secrets
import time
import uuid
from dataclasses import dataclass, field
from typing import Annotated, Any
from urllib.parse import quote, urlsplit

import jwt
from fastapi import Depends, Request

from bookflow_console import texts
from bookflow_console.client import Api, ServiceProblem

TOKEN, SESSION, TENANT, PROFILE, CSRF, LANG = (
    "bookflow_token", "bookflow_session", "bookflow_tenant", "bookflow_profile", "bookflow_csrf", "bookflow_lang")
RENEW_BEFORE = 5 * 60


class LoginNeeded(Exception):
    """No session, or it ended: log in, then come back to `next`."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


class CsrfRefused(Exception):
    """A form without the page's CSRF token (another site's, or an old page's)."""


class RoleNeeded(Exception):
    """The page is for other roles."""


@dataclass
class Viewer:
    """The logged-in person and their calls to the services."""

    tenant_id: str
    staff_id: str
    name: str
    roles: tuple[str, ...]
    language: str
    technician_id: str | None
    api: Api
    zone: str = "UTC"
    tenant_name: str = ""
    csrf: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def has(self, *roles: str) -> bool:
        return "administrator" in self.roles or bool(set(roles) & set(self.roles))

    @property
    def only_technician(self) -> bool:
        return set(self.roles) == {"technician"}

    def require(self, *roles: str) -> None:
        if not self.has(*roles):
            raise RoleNeeded()


def safe_next(path: str | None) -> str:
    """A path on this console to go back to; anything else (another site, a scheme) becomes `/`."""
    if not path or not path.startswith("/") or path.startswith("//") or "\\" in path:
        return "/"
    parts = urlsplit(path)
    return path if not parts.scheme and not parts.netloc else "/"


def login_url(next_path: str) -> str:
    return f"/login?next={quote(safe_next(next_path), safe='/')}"


def _claims(request: Request, token: str | None) -> dict[str, Any] | None:
    if not token:
        return None
    try:
        claims = jwt.decode(token, request.app.state.settings.staff_token_public_key, algorithms=["EdDSA"], issuer="bookflow",
                            options={"require": ["exp", "tenant", "sub"]})
    except jwt.PyJWTError:
        return None
    return claims if claims["exp"] - time.time() > RENEW_BEFORE else None  # about to expire: renew it now


def _profile(request: Request) -> dict[str, Any]:
    try:
        return json.loads(base64.urlsafe_b64decode(request.cookies.get(PROFILE, "") + "=="))
    except (ValueError, TypeError):
        return {}


def encode_profile(language: str | None, technician_id: str | None, name: str | None) -> str:
    return base64.urlsafe_b64encode(json.dumps({"lang": language, "technician_id": technician_id, "name": name}).encode()).decode().rstrip("=")


def language_of(request: Request) -> str:
    """The person's language: their account's, else the one they chose here, else the browser's."""
    chosen = _profile(request).get("lang") or request.cookies.get(LANG)
    if chosen in texts.LANGUAGES:
        return chosen
    return texts.from_accept_language(request.headers.get("accept-language")) or "en"


def csrf_of(request: Request) -> str:
    """The page's CSRF token (a new one is set as a cookie by the middleware when there is none)."""
    token = request.cookies.get(CSRF) or getattr(request.state, "new_csrf", None)
    if not token:
        token = secrets.token_urlsafe(24)
        request.state.new_csrf = token
    return token


async def check_csrf(request: Request) -> None:
    """Every POST carries the page's CSRF token in its `csrf` field."""
    form = await request.form()
    given, expected = str(form.get("csrf") or ""), request.cookies.get(CSRF) or ""
    if not expected or not hmac.compare_digest(given.encode(), expected.encode()):
        raise CsrfRefused()


def set_cookie(request: Request, name: str, value: str, max_age: int | None) -> None:
    """Queue a cookie for the response (the middleware writes it)."""
    request.state.cookies = getattr(request.state, "cookies", {}) | {name: (value, max_age)}


def forget_session(request: Request) -> None:
    for name in (TOKEN, SESSION, PROFILE):
        set_cookie(request, name, "", 0)


def start_session(request: Request, tenant_id: str, logged_in: dict[str, Any]) -> None:
    staff = logged_in["staff"]
    set_cookie(request, TOKEN, logged_in["token"], 8 * 3600)
    set_cookie(request, SESSION, logged_in["session"], 8 * 3600)
    set_cookie(request, TENANT, tenant_id, 365 * 86400)
    set_cookie(request, PROFILE, encode_profile(staff.get("language"), staff.get("technician_id"), staff.get("name")), 8 * 3600)
    request.state.token = logged_in["token"]


def api_for(request: Request, token: str | None) -> Api:
    address = request.client.host if request.client else None
    return Api(request.app.state.http, request.app.state.settings, token, client_address=address)


async def _renewed(request: Request, tenant_id: str | None) -> str | None:
    secret = request.cookies.get(SESSION)
    if not secret or not tenant_id:
        return None
    try:
        logged_in = await api_for(request, None).post("booking", f"/staff-login/{tenant_id}/sessions/renew", {"session": secret})
    except ServiceProblem as exc:
        if exc.status in (401, 404, 422):
            forget_session(request)
            return None
        raise
    start_session(request, tenant_id, logged_in)
    return logged_in["token"]


async def viewer(request: Request) -> Viewer:
    """The logged-in person (their token renewed when it is about to expire); LoginNeeded if none."""
    token = getattr(request.state, "token", None) or request.cookies.get(TOKEN)
    claims = _claims(request, token)
    if claims is None:
        token = await _renewed(request, request.cookies.get(TENANT))
        claims = _claims(request, token)
    if claims is None or token is None:
        raise LoginNeeded(request.url.path + (f"?{request.url.query}" if request.url.query else ""))
    profile = _profile(request)
    tenant_id = str(claims["tenant"])
    person = Viewer(tenant_id=tenant_id, staff_id=str(claims["sub"]), name=str(claims.get("name") or profile.get("name") or ""),
                    roles=tuple(claims.get("roles") or ()), language=language_of(request),
                    technician_id=profile.get("technician_id"), api=api_for(request, token), csrf=csrf_of(request))
    tenant = await request.app.state.tenants.get(person.api, tenant_id)
    person.zone, person.tenant_name = tenant.get("time_zone") or "UTC", tenant.get("name") or tenant_id
    person.extra["tenant"] = tenant
    return person


Who = Annotated[Viewer, Depends(viewer)]


class TenantCache:
    """Each tenant's settings (its name and time zone for every page), kept a minute."""

    def __init__(self) -> None:
        self._kept: dict[str, tuple[float, dict[str, Any]]] = {}

    async def get(self, api: Api, tenant_id: str) -> dict[str, Any]:
        kept = self._kept.get(tenant_id)
        if kept and kept[0] > time.monotonic():
            return kept[1]
        try:
            tenant = await api.get("booking", f"/tenants/{tenant_id}")
        except ServiceProblem as exc:
            if exc.status == 401:
                raise
            return {"id": tenant_id, "name": tenant_id, "time_zone": "UTC"}
        self._kept[tenant_id] = (time.monotonic() + 60, tenant)
        return tenant

    def forget(self, tenant_id: str) -> None:
        self._kept.pop(tenant_id, None)


def is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True
