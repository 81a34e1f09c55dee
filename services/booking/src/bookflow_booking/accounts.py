"""Staff accounts (issue 13, X9): who may log in to the console, with which roles, and the
tokens that prove it. Routes and handlers of one small area, kept apart from the bookings.

- An operator creates a tenant's first administrator (`POST /operator/tenants/{t}/administrators`
  with the operator token); administrators invite staff and remove them, change their roles,
  and reset a password. Inviting and resetting give a one-time link (valid 7 days, or 24 hours
  for a reset) on which the person sets their own password; only the link secret's SHA-256 is
  kept, and a newer link ends the older ones.
- Passwords are hashed with argon2id (argon2-cffi's defaults: 64 MiB, 3 passes). Logging in
  with e-mail and password starts a session and gives a staff token.
- Lockout: 5 failed logins for one e-mail in 15 minutes lock it for 15 minutes, and so do 20
  from one client address (an office shares one address); the caller gets 429 with
  `Retry-After`. An e-mail without an account counts the same, so the lockout tells nothing
  about who has one, and the time a wrong e-mail takes is the time a wrong password takes.
- Tokens live 15 minutes (`TOKEN_TTL`): every service checks only the signature and expiry, so
  a token cannot be taken back, only outlived. The console renews its token with the session's
  secret (`POST /staff-login/{t}/sessions/renew`) while the session lasts (8 hours from logging in);
  renewing checks the account as it is now. Removing a person, resetting their password or
  changing their roles ends their sessions at once: their last token stops working within 15
  minutes everywhere, and at once for renewal. Logging out ends the session.
- Passwords, link secrets, session secrets and tokens travel only in request and response
  bodies (never in a path or query, so no access log holds them) and are never logged.
"""
from __future__ import annotations

import asyncio
import functools
import hashlib
import secrets
import uuid
from datetime import datetime, timedelta
from typing import Annotated, Literal

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from fastapi import APIRouter, Depends, Request, Response
from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncSession

from bookflow_booking import handlers, storage, views
from bookflow_booking.dependencies import ClientAddress, Deps, TenantId
from bookflow_runtime.auth import ROLES, Staff, issue_staff_token, operator, staff_with
from bookflow_runtime.errors import Conflict, InvalidInput, NotFound, TooManyRequests
from bookflow_runtime.http import PROBLEM_RESPONSES, Session, problem
from bookflow_runtime.inputs import Email, Line

router = APIRouter(tags=["staff accounts"])
# Staff routes are under /tenants/{t}/staff (a token of another tenant finds nothing there); logging in and
# set-password links are for people without a token yet (/staff-login/{t}/...), and the operator has its own.
STAFF, LOGIN = "/tenants/{tenant_id}/staff", "/staff-login/{tenant_id}"

TOKEN_TTL = timedelta(minutes=15)
SESSION_TTL = timedelta(hours=8)
INVITATION_TTL = timedelta(days=7)
RESET_TTL = timedelta(hours=24)
FAILURE_WINDOW = timedelta(minutes=15)
FAILURES_PER_ACCOUNT = 5
FAILURES_PER_ADDRESS = 20
MIN_PASSWORD = 10

Role = Literal["administrator", "planner", "receptionist", "technician"]
Language = Literal["sv", "nb", "da", "nl", "en"]
Administrator = staff_with("administrator")
AnyStaff = staff_with(*ROLES)
assert set(Role.__args__) == set(ROLES)


# --- models ----------------------------------------------------------------------------------


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


LowerEmail = Annotated[Email, AfterValidator(str.lower)]
"""E-mail addresses are kept and compared in lower case."""


class StaffIn(_In):
    """A person to invite."""

    email: LowerEmail
    name: Line(200, min_length=1)
    roles: list[Role] = Field(min_length=1, max_length=4, description="administrator, planner, receptionist, technician.")
    language: Language | None = Field(None, description="The console's language for them; empty: the browser's.")
    technician_id: uuid.UUID | None = Field(None, description="For a technician: whose work list is theirs.")


class AdministratorIn(_In):
    """A tenant's first administrator, made by an operator."""

    email: LowerEmail
    name: Line(200, min_length=1)
    language: Language | None = None


class StaffId(_In):
    staff_id: uuid.UUID = Field(description="The account.")


class StaffChange(StaffId):
    """What an administrator changes of an account; what is left out stays."""

    name: Line(200, min_length=1) | None = None
    roles: list[Role] | None = Field(None, min_length=1, max_length=4)
    language: Language | None = None
    technician_id: uuid.UUID | None = None


class OwnChange(_In):
    """What a person changes of their own account."""

    name: Line(200, min_length=1) | None = None
    language: Language | None = None


class LoginIn(_In):
    email: LowerEmail
    password: str = Field(min_length=1, max_length=200)


class SessionIn(_In):
    session: str = Field(min_length=20, max_length=200, description="The session secret logging in gave.")


class LinkIn(_In):
    token: str = Field(min_length=20, max_length=200, description="The secret of a set-password link.")


class PasswordIn(LinkIn):
    password: str = Field(min_length=MIN_PASSWORD, max_length=200, description=f"At least {MIN_PASSWORD} characters.")


class StaffView(BaseModel):
    id: uuid.UUID
    email: str
    name: str
    roles: list[Role]
    language: Language | None = None
    technician_id: uuid.UUID | None = None
    status: Literal["invited", "active"] = Field(description="`invited` until a password is set.")
    created_at: AwareDatetime


class LinkView(BaseModel):
    """A one-time link's secret, to put in a set-password address (the console's `/password/<tenant>/<token>`)."""

    token: str
    purpose: Literal["invitation", "reset"]
    expires_at: AwareDatetime


class Invited(BaseModel):
    staff: StaffView
    link: LinkView


class LinkFor(BaseModel):
    """Whom a valid link is for."""

    tenant_id: str
    email: str
    name: str
    purpose: Literal["invitation", "reset"]
    expires_at: AwareDatetime


class LoggedIn(BaseModel):
    token: str = Field(description="The staff token: `Authorization: Bearer <token>` on every service.")
    token_expires_at: AwareDatetime
    session: str = Field(description="The session's secret, to renew the token and to log out.")
    session_expires_at: AwareDatetime
    staff: StaffView


class WrongLogin(Exception):
    """E-mail or password wrong (answered as 401 after the failure is stored)."""


class TooManyLogins(TooManyRequests):
    code = "too-many-logins"
    title = "Too many failed logins"


class SessionEnded(NotFound):
    code = "session-ended"
    title = "The session has ended"


class LinkNotValid(NotFound):
    code = "link-not-valid"
    title = "The link is not valid"


def _view(account: storage.StaffAccount) -> StaffView:
    return StaffView(id=account.id, email=account.email, name=account.name, roles=list(account.roles), language=account.language,
                     technician_id=account.technician_id, status="active" if account.password_hash else "invited",
                     created_at=account.created_at)


# --- handlers --------------------------------------------------------------------------------


@functools.cache
def _hasher() -> PasswordHasher:
    return PasswordHasher()


@functools.cache
def _stand_in_hash() -> str:
    """Verified against when there is no account, so a wrong e-mail takes as long as a wrong password."""
    return _hasher().hash(secrets.token_urlsafe(16))


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


async def _verify(password_hash: str | None, password: str) -> bool:
    try:
        return await asyncio.to_thread(_hasher().verify, password_hash or _stand_in_hash(), password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


async def _new_link(session: AsyncSession, deps: handlers.Deps, account: storage.StaffAccount, purpose: str) -> LinkView:
    token, now = secrets.token_urlsafe(32), deps.clock()
    expires_at = now + (INVITATION_TTL if purpose == "invitation" else RESET_TTL)
    await storage.add_staff_link(session, _digest(token), account.tenant_id, account.id, purpose, now, expires_at)
    return LinkView(token=token, purpose=purpose, expires_at=expires_at)


async def _known_technician(session: AsyncSession, tenant_id: str, technician_id: uuid.UUID | None) -> None:
    if technician_id is not None and not await storage.technician_exists(session, tenant_id, technician_id):
        raise NotFound(f"no technician {technician_id}")


async def invite_staff(session: AsyncSession, deps: handlers.Deps, tenant_id: str, person: StaffIn | AdministratorIn) -> Invited:
    """A new account with a one-time link on which the person sets a password."""
    if not await views.tenant_known(session, tenant_id):
        raise NotFound("no such tenant")
    if await storage.staff_by_email(session, tenant_id, person.email):
        raise Conflict(f"{person.email} already has an account")
    roles = tuple(dict.fromkeys(person.roles)) if isinstance(person, StaffIn) else ("administrator",)
    technician_id = person.technician_id if isinstance(person, StaffIn) else None
    await _known_technician(session, tenant_id, technician_id)
    account = storage.StaffAccount(uuid.uuid4(), tenant_id, person.email, person.name, roles, person.language, technician_id,
                                   None, deps.clock(), None)
    await storage.add_staff(session, account)
    return Invited(staff=_view(account), link=await _new_link(session, deps, account, "invitation"))


async def _account(session: AsyncSession, tenant_id: str, staff_id: uuid.UUID) -> storage.StaffAccount:
    account = await storage.staff_by_id(session, tenant_id, staff_id, lock=True)
    if account is None or account.removed_at is not None:
        raise NotFound(f"no staff member {staff_id}")
    return account


async def _not_the_last_administrator(session: AsyncSession, account: storage.StaffAccount) -> None:
    others = [a for a in await storage.staff_of_tenant(session, account.tenant_id)
              if a.id != account.id and "administrator" in a.roles]
    if "administrator" in account.roles and not others:
        raise Conflict("this is the tenant's last administrator: make someone else administrator first")


async def change_staff(session: AsyncSession, deps: handlers.Deps, tenant_id: str, staff_id: uuid.UUID, change: StaffChange,
                       by: Staff) -> StaffView:
    """New name, roles, language or technician; new roles end the person's sessions, so their
    next token carries the new roles."""
    account = await _account(session, tenant_id, staff_id)
    values = change.model_dump(exclude_unset=True, exclude={"staff_id"})
    if "roles" in values:
        values["roles"] = tuple(dict.fromkeys(values["roles"]))
        if "administrator" not in values["roles"]:
            if str(account.id) == by.subject:
                raise Conflict("you cannot take away your own administrator role")
            await _not_the_last_administrator(session, account)
    await _known_technician(session, tenant_id, values.get("technician_id"))
    await storage.update_staff(session, account.id, **values)
    if "roles" in values and set(values["roles"]) != set(account.roles):
        await storage.end_staff_sessions(session, deps.clock(), staff_id=account.id)
    return _view(account._replace(**values))


async def reset_password(session: AsyncSession, deps: handlers.Deps, tenant_id: str, staff_id: uuid.UUID) -> LinkView:
    """The old password stops working and the person's sessions end; the link sets a new one."""
    account = await _account(session, tenant_id, staff_id)
    await storage.update_staff(session, account.id, password_hash=None)
    await storage.end_staff_sessions(session, deps.clock(), staff_id=account.id)
    return await _new_link(session, deps, account, "reset")


async def remove_staff(session: AsyncSession, deps: handlers.Deps, tenant_id: str, staff_id: uuid.UUID, by: Staff) -> None:
    """The person can no longer log in; their sessions and links end at once."""
    account = await _account(session, tenant_id, staff_id)
    if str(account.id) == by.subject:
        raise Conflict("you cannot remove yourself: ask another administrator")
    await _not_the_last_administrator(session, account)
    now = deps.clock()
    await storage.update_staff(session, account.id, removed_at=now, password_hash=None)
    await storage.end_staff_sessions(session, now, staff_id=account.id)
    await storage.end_staff_links(session, account.id, now)


async def _valid_link(session: AsyncSession, deps: handlers.Deps, tenant_id: str, token: str, *,
                      lock: bool = False) -> tuple[storage.StaffLink, storage.StaffAccount]:
    link = await storage.staff_link(session, _digest(token), lock=lock)
    if link is None or link.tenant_id != tenant_id or link.used_at is not None or link.expires_at <= deps.clock():
        raise LinkNotValid("the link was used already, has expired, or was replaced by a newer one: ask an administrator for a new link")
    account = await storage.staff_by_id(session, tenant_id, link.staff_id, lock=lock)
    if account is None or account.removed_at is not None:
        raise LinkNotValid("the account of this link was removed")
    return link, account


async def read_link(session: AsyncSession, deps: handlers.Deps, tenant_id: str, token: str) -> LinkFor:
    link, account = await _valid_link(session, deps, tenant_id, token)
    return LinkFor(tenant_id=tenant_id, email=account.email, name=account.name, purpose=link.purpose, expires_at=link.expires_at)


async def set_password(session: AsyncSession, deps: handlers.Deps, tenant_id: str, token: str, password: str) -> StaffView:
    """The link's person gets this password; the link is used up."""
    _, account = await _valid_link(session, deps, tenant_id, token, lock=True)
    if password.strip().lower() == account.email:
        raise InvalidInput("choose a password that is not your e-mail address")
    password_hash = await asyncio.to_thread(_hasher().hash, password)
    await storage.update_staff(session, account.id, password_hash=password_hash)
    await storage.use_staff_link(session, _digest(token), deps.clock())
    return _view(account._replace(password_hash=password_hash))


def _issue(private_key: str, account: storage.StaffAccount, session_secret: str, session_expires_at: datetime,
           now: datetime) -> LoggedIn:
    token = issue_staff_token(private_key, account.tenant_id, str(account.id), account.roles, name=account.name,
                              ttl_seconds=int(TOKEN_TTL.total_seconds()))
    return LoggedIn(token=token, token_expires_at=now + TOKEN_TTL, session=session_secret, session_expires_at=session_expires_at,
                    staff=_view(account))


async def _locked_for(session: AsyncSession, now: datetime, **key: str) -> int | None:
    """Seconds until logins are allowed again for the account or address, or None if they are."""
    most = FAILURES_PER_ACCOUNT if "account_key" in key else FAILURES_PER_ADDRESS
    failures, latest = await storage.login_failures_since(session, now - FAILURE_WINDOW, **key)
    if failures >= most and latest is not None:
        return max(1, int((latest + FAILURE_WINDOW - now).total_seconds()) + 1)
    return None


async def log_in(session: AsyncSession, deps: handlers.Deps, private_key: str, tenant_id: str, login: LoginIn,
                 client_address: str) -> LoggedIn:
    """A new session and token; WrongLogin (with the failure stored) when e-mail or password is
    wrong, TooManyLogins while the account or the address is locked."""
    now = deps.clock()
    account_key, address = deps.address_key(f"{tenant_id}\n{login.email}"), deps.address_key(client_address)
    for key in ({"account_key": account_key}, {"address": address}):
        wait = await _locked_for(session, now, **key)
        if wait is not None:
            raise TooManyLogins(f"too many failed logins: try again in {(wait + 59) // 60} minutes", retry_after=wait)
    account = await storage.staff_by_email(session, tenant_id, login.email)
    if not await _verify(account.password_hash if account else None, login.password) or account is None:
        await storage.forget_login_failures(session, account_key=account_key, before=now - FAILURE_WINDOW)
        await storage.add_login_failure(session, account_key, address, now)
        raise WrongLogin()
    await storage.forget_login_failures(session, account_key=account_key)
    secret, expires_at = secrets.token_urlsafe(32), now + SESSION_TTL
    await storage.add_staff_session(session, _digest(secret), tenant_id, account.id, now, expires_at)
    return _issue(private_key, account, secret, expires_at, now)


async def renew(session: AsyncSession, deps: handlers.Deps, private_key: str, tenant_id: str, secret: str) -> LoggedIn:
    """A fresh token for a session that has not ended, with the account as it is now."""
    now = deps.clock()
    found = await storage.staff_session(session, _digest(secret))
    if found is None or found.tenant_id != tenant_id or found.ended_at is not None or found.expires_at <= now:
        raise SessionEnded("the session has ended: log in again")
    account = await storage.staff_by_id(session, tenant_id, found.staff_id)
    if account is None or account.removed_at is not None:
        raise SessionEnded("the session has ended: log in again")
    return _issue(private_key, account, secret, found.expires_at, now)


async def log_out(session: AsyncSession, deps: handlers.Deps, tenant_id: str, secret: str) -> None:
    found = await storage.staff_session(session, _digest(secret))
    if found is not None and found.tenant_id == tenant_id:
        await storage.end_staff_sessions(session, deps.clock(), secret_hash=_digest(secret))


async def own_account(session: AsyncSession, staff: Staff) -> storage.StaffAccount:
    """The caller's own account; NotFound for a token no account stands behind (an operator's)."""
    try:
        staff_id = uuid.UUID(staff.subject)
    except ValueError:
        raise NotFound("this token belongs to no staff account") from None
    account = await storage.staff_by_id(session, staff.tenant_id, staff_id, lock=True)
    if account is None or account.removed_at is not None:
        raise NotFound("this token belongs to no staff account")
    return account


async def change_own(session: AsyncSession, staff: Staff, change: OwnChange) -> StaffView:
    account = await own_account(session, staff)
    values = change.model_dump(exclude_unset=True)
    await storage.update_staff(session, account.id, **values)
    return _view(account._replace(**values))


# --- routes ----------------------------------------------------------------------------------


async def _private_key(request: Request) -> str:
    return request.app.state.settings.staff_token_private_key


PrivateKey = Annotated[str, Depends(_private_key)]
_UNAUTHORIZED = {401: PROBLEM_RESPONSES[401], 429: PROBLEM_RESPONSES[429]}


@router.post("/operator/tenants/{tenant_id}/administrators", status_code=201, dependencies=[Depends(operator)],
             summary="The tenant's first administrator, with a set-password link (operator)")
async def add_administrator(tenant_id: TenantId, body: AdministratorIn, session: Session, deps: Deps) -> Invited:
    return await invite_staff(session, deps, tenant_id, body)


@router.post(f"{LOGIN}/sessions", status_code=201, summary="Log in with e-mail and password", responses=_UNAUTHORIZED,
             response_model=LoggedIn)
async def login(tenant_id: TenantId, body: LoginIn, session: Session, deps: Deps, key: PrivateKey,
                address: ClientAddress) -> Response:
    """A wrong e-mail or password is 401 (which one is not said); after 5 failures for one
    e-mail in 15 minutes, or 20 from one address, 429 with `Retry-After`."""
    try:
        logged_in = await log_in(session, deps, key, tenant_id, body, address)
    except WrongLogin:
        # Answered, not raised: the failure just stored must be committed for the lockout to count it.
        return problem(401, "wrong-login", "E-mail or password is wrong", "check the e-mail address and the password and try again")
    return Response(logged_in.model_dump_json(), status_code=201, media_type="application/json")


@router.post(f"{LOGIN}/sessions/renew", summary="A fresh token for a session that has not ended")
async def renew_session(tenant_id: TenantId, body: SessionIn, session: Session, deps: Deps, key: PrivateKey) -> LoggedIn:
    return await renew(session, deps, key, tenant_id, body.session)


@router.post(f"{LOGIN}/sessions/end", status_code=204, summary="Log out: the session ends and its token is not renewed")
async def end_session(tenant_id: TenantId, body: SessionIn, session: Session, deps: Deps) -> None:
    await log_out(session, deps, tenant_id, body.session)


@router.post(f"{LOGIN}/links/read", summary="Whom a set-password link is for, while it is valid")
async def link_for(tenant_id: TenantId, body: LinkIn, session: Session, deps: Deps) -> LinkFor:
    return await read_link(session, deps, tenant_id, body.token)


@router.post(f"{LOGIN}/links/password", summary="Set a password with a one-time link (an invitation or a reset)")
async def password_from_link(tenant_id: TenantId, body: PasswordIn, session: Session, deps: Deps) -> StaffView:
    return await set_password(session, deps, tenant_id, body.token, body.password)


@router.get(f"{STAFF}/me", summary="Your own account")
async def me(tenant_id: TenantId, staff: AnyStaff, session: Session) -> StaffView:
    return _view(await own_account(session, staff))


@router.patch(f"{STAFF}/me", summary="Change your own name or language")
async def change_me(tenant_id: TenantId, body: OwnChange, staff: AnyStaff,
                    session: Session) -> StaffView:
    return await change_own(session, staff, body)


@router.get(STAFF, summary="The tenant's staff (administrators)")
async def list_staff(tenant_id: TenantId, staff: Administrator, session: Session) -> list[StaffView]:
    return [_view(a) for a in await storage.staff_of_tenant(session, tenant_id)]


@router.post(f"{STAFF}/invitations", status_code=201, summary="Invite a person: an account and a set-password link (administrators)")
async def invite(tenant_id: TenantId, body: StaffIn, staff: Administrator, session: Session, deps: Deps) -> Invited:
    return await invite_staff(session, deps, tenant_id, body)


@router.post(f"{STAFF}/changes", summary="Change a person's name, roles, language or technician (administrators)")
async def change(tenant_id: TenantId, body: StaffChange, staff: Administrator, session: Session, deps: Deps) -> StaffView:
    return await change_staff(session, deps, tenant_id, body.staff_id, body, staff)


@router.post(f"{STAFF}/resets", summary="Reset a person's password: a new set-password link (administrators)")
async def reset(tenant_id: TenantId, body: StaffId, staff: Administrator, session: Session, deps: Deps) -> LinkView:
    return await reset_password(session, deps, tenant_id, body.staff_id)


@router.post(f"{STAFF}/removals", status_code=204, summary="Remove a person: they cannot log in any more (administrators)")
async def remove(tenant_id: TenantId, body: StaffId, staff: Administrator, session: Session, deps: Deps) -> None:
    await remove_staff(session, deps, tenant_id, body.staff_id, staff)
