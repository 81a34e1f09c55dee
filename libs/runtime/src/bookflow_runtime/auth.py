"""Who may call what. Staff carry a bearer token (a JWT signed with Ed25519 by the booking
service, which alone holds the private key; every service verifies it with the public key)
naming their tenant and roles; operators carry the operator token; customers follow signed
links that expire. One way, used by every service.

A staff token of tenant A used on a route of tenant B answers 404, as if the thing did not exist:
a caller learns nothing about another tenant.
"""

from __future__ import annotations

import functools
import hmac
import time
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import jwt
from fastapi import Depends, Path, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from bookflow_runtime.errors import BookflowError, NotFound

_ALGORITHM = "EdDSA"
_ISSUER = "bookflow"

Role = Literal["administrator", "planner", "receptionist", "technician"]
ROLES: tuple[str, ...] = Role.__args__


class Unauthorized(BookflowError):
    status = 401
    code = "unauthorized"
    title = "Log in first"


class Forbidden(BookflowError):
    status = 403
    code = "forbidden"
    title = "Not allowed for your role"


class LinkInvalid(BookflowError):
    """A customer link that was tampered with, is for something else, or has expired."""

    status = 403
    code = "link-invalid"
    title = "The link is not valid"


@dataclass(frozen=True)
class Staff:
    """An authenticated member of a tenant's staff."""

    tenant_id: str
    subject: str
    roles: tuple[str, ...]
    name: str | None = None

    @property
    def actor(self) -> str:
        """How the staff member appears in histories: `staff:<id>`."""
        return f"staff:{self.subject}"

    def has(self, *roles: str) -> bool:
        """Whether the staff member has one of `roles` (an administrator has all)."""
        return "administrator" in self.roles or bool(set(roles) & set(self.roles))

    def require(self, *roles: str) -> None:
        """Forbidden unless the staff member has one of `roles` (an administrator has all)."""
        if not self.has(*roles):
            raise Forbidden(f"needs the role {' or '.join(roles)}")


def issue_staff_token(private_key: str, tenant_id: str, subject: str, roles: tuple[str, ...] = ("planner",), *,
                      name: str | None = None, ttl_seconds: int = 12 * 3600) -> str:
    """A bearer token for one staff member of one tenant, signed with the booking service's key."""
    unknown = set(roles) - set(ROLES)
    if unknown:
        raise ValueError(f"unknown roles {sorted(unknown)}")
    now = int(time.time())
    claims = {"iss": _ISSUER, "tenant": tenant_id, "sub": subject, "roles": list(roles), "iat": now, "exp": now + ttl_seconds}
    if name:
        claims["name"] = name
    return jwt.encode(claims, private_key, algorithm=_ALGORITHM)


def read_staff_token(public_key: str, token: str) -> Staff:
    """The staff member a token names; Unauthorized if it is not valid now."""
    try:
        claims = jwt.decode(token, public_key, algorithms=[_ALGORITHM], issuer=_ISSUER,
                            options={"require": ["exp", "tenant", "sub", "iss"]})
    except jwt.ExpiredSignatureError as exc:
        raise Unauthorized("the token has expired: log in again") from exc
    except jwt.PyJWTError as exc:
        raise Unauthorized("the token is not valid") from exc
    roles = tuple(r for r in claims.get("roles", ()) if r in ROLES)
    return Staff(str(claims["tenant"]), str(claims["sub"]), roles, claims.get("name"))


_bearer = HTTPBearer(auto_error=False, description="A staff member's token (from logging in), or the operator token.")
Bearer = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


def _token(credentials: HTTPAuthorizationCredentials | None) -> str:
    if credentials is None or not credentials.credentials:
        raise Unauthorized("send `Authorization: Bearer <staff token>`")
    return credentials.credentials


async def staff_of_tenant(request: Request, credentials: Bearer,
                          tenant_id: Annotated[str, Path(description="The tenant's id.", max_length=63)]) -> Staff:
    """FastAPI dependency for routes under `/tenants/{tenant_id}`: the caller must be staff of it."""
    staff = read_staff_token(request.app.state.settings.staff_token_public_key, _token(credentials))
    if staff.tenant_id != tenant_id:
        raise NotFound("no such tenant")
    return staff


StaffOfTenant = Annotated[Staff, Depends(staff_of_tenant)]
"""Any staff member of the tenant in the path."""


@functools.cache
def staff_with(*roles: str) -> Any:
    """A dependency: staff of the tenant in the path with one of `roles` (administrators always)."""

    async def check(staff: StaffOfTenant) -> Staff:
        staff.require(*roles)
        return staff

    check.__name__ = f"staff_with_{'_or_'.join(roles)}"
    return Annotated[Staff, Depends(check)]


async def operator(request: Request, credentials: Bearer) -> None:
    """FastAPI dependency for operators' routes: the operator token."""
    expected = request.app.state.settings.operator_token or ""
    if not expected or not hmac.compare_digest(_token(credentials).encode(), expected.encode()):
        raise Unauthorized("this route needs `Authorization: Bearer <operator token>`")


Operator = Annotated[None, Depends(operator)]


def sign_link(secret: str, purpose: str, data: dict[str, Any]) -> str:
    """A token for a customer link (My pages, check-in); `purpose` keeps one kind from opening another."""
    return URLSafeTimedSerializer(secret, salt=f"bookflow:{purpose}").dumps(data)


def read_link(secret: str, purpose: str, token: str, max_age_seconds: int) -> dict[str, Any]:
    """The data of a customer link; LinkInvalid if tampered with, for another purpose, or too old."""
    if len(token) > 2000:
        raise LinkInvalid("the link is not valid")
    try:
        return URLSafeTimedSerializer(secret, salt=f"bookflow:{purpose}").loads(token, max_age=max_age_seconds)
    except SignatureExpired as exc:
        raise LinkInvalid("the link has expired") from exc
    except BadSignature as exc:
        raise LinkInvalid("the link is not valid") from exc
