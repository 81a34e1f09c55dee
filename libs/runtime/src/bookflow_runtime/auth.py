"""Who may call what. Staff carry a bearer token (a JWT signed with the secret all services share)
naming their tenant; customers follow signed links that expire. One way, used by every service.

A staff token of tenant A used on a route of tenant B answers 404, as if the thing did not exist:
a caller learns nothing about another tenant.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Annotated, Any

import jwt
from fastapi import Depends, Path, Request
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from bookflow_runtime.errors import BookflowError, NotFound

_log = logging.getLogger(__name__)
_ALGORITHM = "HS256"
DEV_SECRET = "bookflow-development-secret-change-me-before-use"  # noqa: S105 (for local runs; services warn when it is used)


class Unauthorized(BookflowError):
    status = 401
    code = "unauthorized"


class Forbidden(BookflowError):
    status = 403
    code = "forbidden"


class LinkInvalid(BookflowError):
    """A customer link that was tampered with, is for something else, or has expired."""

    status = 403
    code = "link-invalid"


@dataclass(frozen=True)
class Staff:
    """An authenticated member of a tenant's staff."""

    tenant_id: str
    subject: str
    roles: tuple[str, ...]

    def require(self, role: str) -> None:
        if role not in self.roles and "admin" not in self.roles:
            raise Forbidden(f"needs the {role!r} role")


def issue_staff_token(secret: str, tenant_id: str, subject: str, roles: tuple[str, ...] = ("planner",), ttl_seconds: int = 12 * 3600) -> str:
    """A bearer token for one staff member of one tenant."""
    now = int(time.time())
    claims = {"tenant": tenant_id, "sub": subject, "roles": list(roles), "iat": now, "exp": now + ttl_seconds}
    return jwt.encode(claims, secret, algorithm=_ALGORITHM)


def read_staff_token(secret: str, token: str) -> Staff:
    """The staff member a token names; Unauthorized if it is not valid now."""
    try:
        claims = jwt.decode(token, secret, algorithms=[_ALGORITHM], options={"require": ["exp", "tenant", "sub"]})
    except jwt.ExpiredSignatureError as exc:
        raise Unauthorized("the token has expired") from exc
    except jwt.PyJWTError as exc:
        raise Unauthorized("the token is not valid") from exc
    return Staff(str(claims["tenant"]), str(claims["sub"]), tuple(claims.get("roles", ())))


def _bearer(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized("send `Authorization: Bearer <staff token>`")
    return token


def staff_of_tenant(request: Request, tenant_id: Annotated[str, Path(description="The tenant's id.")]) -> Staff:
    """FastAPI dependency for routes under `/tenants/{tenant_id}`: the caller must be staff of it."""
    staff = read_staff_token(request.app.state.runtime.settings.staff_token_secret, _bearer(request))
    if staff.tenant_id != tenant_id:
        raise NotFound("no such tenant")
    return staff


StaffOfTenant = Annotated[Staff, Depends(staff_of_tenant)]


def sign_link(secret: str, purpose: str, data: dict[str, Any]) -> str:
    """A token for a customer link (My pages, check-in); `purpose` keeps one kind from opening another."""
    return URLSafeTimedSerializer(secret, salt=f"bookflow:{purpose}").dumps(data)


def read_link(secret: str, purpose: str, token: str, max_age_seconds: int) -> dict[str, Any]:
    """The data of a customer link; LinkInvalid if tampered with, for another purpose, or too old."""
    try:
        return URLSafeTimedSerializer(secret, salt=f"bookflow:{purpose}").loads(token, max_age=max_age_seconds)
    except SignatureExpired as exc:
        raise LinkInvalid("the link has expired") from exc
    except BadSignature as exc:
        raise LinkInvalid("the link is not valid") from exc
