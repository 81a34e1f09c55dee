"""The customer's check-in page (C2, C3, C7), behind the signed link the check-in message
carries: server-rendered HTML in the customer's language that works on a phone without
JavaScript. A form posts, the page comes back with what changed (303 to the page) or with what
was wrong and the customer's text kept (the page, 422). A bad link answers 403, and a client
that sends many bad links is told to wait (429)."""
from __future__ import annotations

from dataclasses import dataclass
from html import escape
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from bookflow_checkin import domain, handlers, i18n, storage, uploads
from bookflow_contracts import CatalogService, CustomerSnapshot, WorkLine
from bookflow_runtime.auth import LinkInvalid
from bookflow_runtime.errors import BookflowError, TooManyRequests
from bookflow_runtime.http import Session
from bookflow_runtime.inputs import Email, Phone

router = APIRouter(prefix="/checkin", tags=["check-in page (customers)"])


async def deps_of(request: Request) -> handlers.Deps:
    return request.app.state.deps


Deps = Annotated[handlers.Deps, Depends(deps_of)]
HTML = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY"}


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _refused(request: Request, exc: BookflowError) -> Response:
    """The page for a link that opens nothing, or for a client that must wait."""
    language = i18n.negotiate(request.headers.get("accept-language"))
    headers = dict(HTML)
    if isinstance(exc, TooManyRequests):
        headers["Retry-After"] = str(exc.retry_after)
        return HTMLResponse(i18n.render(language, "invalid.html", reason="wait"), status_code=429, headers=headers)
    reason = "expired" if "expired" in exc.detail else "invalid"
    return HTMLResponse(i18n.render(language, "invalid.html", reason=reason), status_code=403, headers=headers)


def _page(description: str, **more) -> dict:
    return {"description": description, "content": {"text/html": {"schema": {"type": "string"}}}, **more}


REFUSED = {
    403: _page("The link is invalid, expired or for something else: a page that says so."),
    429: _page("This address sent too many invalid links: a page that says to wait.",
               headers={"Retry-After": {"description": "Seconds until the next attempt may succeed.", "schema": {"type": "integer"}}}),
}
"""What every check-in page route may answer besides the page itself (so the document is true)."""
POSTED = {
    303: {"description": "Done: to the page, at what changed.", "headers": {"Location": {"schema": {"type": "string"}}}},
    **REFUSED,
    404: _page("Something the form names is not there: the page again, saying so."),
    409: _page("Check-in is closed (the appointment has begun or was cancelled): the page again, saying so."),
    413: _page("The form is larger than it can be: the page again, saying so."),
    422: _page("Something in the form cannot be used: the page again, saying what, with the customer's text kept."),
}


# --- what the page shows --------------------------------------------------------------------


@dataclass(frozen=True)
class PageFile:
    name: str
    size: str


@dataclass(frozen=True)
class PageComment:
    subject: str
    description: str
    files: list[PageFile]


@dataclass(frozen=True)
class PageService:
    service: CatalogService
    price: str | None
    choice: domain.Choice
    handled: bool


@dataclass(frozen=True)
class PageLine:
    line: WorkLine
    price: str | None


@dataclass(frozen=True)
class PageView:
    language: str
    tenant: domain.Tenant
    appointment: domain.Appointment
    customer: CustomerSnapshot | None
    contact: handlers.Contact
    contact_status: storage.ContactChange | None
    when: str
    ends: str
    place: str | None
    lines: list[PageLine]
    services: list[PageService]
    comments: list[PageComment]
    open: bool
    answered: bool


async def page_view(session: AsyncSession, deps: handlers.Deps, ref: handlers.LinkRef) -> PageView:
    """Everything the page shows, read at once."""
    appointment = await storage.appointment(session, ref.booking_id, ref.tenant_id)
    if appointment is None or not appointment.created_known:
        raise LinkInvalid("the link is not valid")
    tenant = await storage.tenant(session, ref.tenant_id) or domain.Tenant(ref.tenant_id)
    customer = appointment.customer
    language = i18n.page_language(customer.language if customer else None, tenant.language)
    formats = i18n.Formats(language, tenant.zone, tenant.currency)
    changes = await storage.contact_changes_of(session, ref.booking_id)
    chosen = {i.service: i for i in await storage.items_of(session, ref.booking_id) if i.service}
    place = appointment.place
    return PageView(
        language=language, tenant=tenant, appointment=appointment, customer=customer,
        contact=handlers.effective_contact(appointment, changes), contact_status=changes[-1] if changes else None,
        when=formats.when(appointment.starts_at), ends=formats.time(appointment.ends_at),
        place=", ".join(p for p in (place.street, " ".join(filter(None, (place.postcode, place.city)))) if p) if place else None,
        lines=[PageLine(line, formats.price(line.price_incl_vat)) for line in appointment.work_lines],
        services=[PageService(s, formats.price(s.price_incl_vat), _choice(chosen.get(s.service)),
                              bool(chosen.get(s.service) and chosen[s.service].handled)) for s in tenant.offered],
        comments=[PageComment(c.subject, c.description, [PageFile(f.name, formats.size(f.size)) for f in c.files])
                  for c in await storage.comments_of(session, ref.booking_id)],
        open=appointment.open_for_checkin(deps.clock()), answered=appointment.answered_at is not None,
    )


def _choice(item: domain.Item | None) -> domain.Choice:
    if item is None:
        return "none"
    return "accept" if item.kind == "accepted-service" else "contact"


def _render(request: Request, view: PageView, token: str, *, status: int = 200, done: str | None = None,
            problem: str | None = None, refusals: list[uploads.Refusal] | None = None, draft: dict | None = None,
            limits: uploads.Limits | None = None) -> HTMLResponse:
    formats = i18n.Formats(view.language, view.tenant.zone, view.tenant.currency)
    html = i18n.render(
        view.language, "checkin.html", v=view, token=token, done=done, problem=problem, refusals=refusals or [],
        draft=draft or {}, max_size=formats.size(limits.max_file_bytes) if limits else None,
        max_files=limits.max_files if limits else None,
        url=lambda name, **kw: str(request.url_for(name, token=token, **kw)),
    )
    return HTMLResponse(html, status_code=status, headers=HTML)


DONE = ("contact", "comment", "answer")


@router.get("/{token}", response_class=HTMLResponse, summary="The check-in page", responses=REFUSED)
async def checkin_page(token: str, request: Request, session: Session, deps: Deps, done: str | None = None) -> Response:
    try:
        ref = await handlers.open_link(session, deps, token, _client(request))
        view = await page_view(session, deps, ref)
    except (LinkInvalid, TooManyRequests) as exc:
        return _refused(request, exc)
    return _render(request, view, token, done=done if done in DONE else None, limits=deps.limits)


def _back(request: Request, token: str, done: str) -> HTMLResponse:
    """To the page, at what changed; an HTML body with the link too, as documented (POSTED)."""
    url = f"{request.url_for('checkin_page', token=token)}?done={done}#{done}"
    return HTMLResponse(f'<a href="{escape(url)}">{escape(url)}</a>', status_code=303, headers={**HTML, "Location": url})


class ContactForm(BaseModel):
    preferred_channel: Literal["sms", "email"] | None = None
    phone: Phone | None = None
    email: Email | None = None


SMALL_FORM = 64 * 1024  # the welcome step's and the answer's forms are a few hundred bytes


async def _small_form(request: Request) -> dict[str, str] | None:
    """A small url-encoded form, or None when the request is larger than such a form can be."""
    declared = request.headers.get("content-length", "")
    if not declared.isdigit() or int(declared) > SMALL_FORM:
        return None
    form = await request.form(max_files=0, max_fields=200, max_part_size=4096)
    return {k: v[:2000] for k, v in form.multi_items() if isinstance(v, str)}


@router.post("/{token}/contact", summary="The welcome step: preferred channel, phone and e-mail (C3)",
             response_class=HTMLResponse, status_code=303, responses=POSTED)
async def change_contact(token: str, request: Request, session: Session, deps: Deps) -> Response:
    try:
        ref = await handlers.open_link(session, deps, token, _client(request))
    except (LinkInvalid, TooManyRequests) as exc:
        return _refused(request, exc)
    fields = await _small_form(request)
    if fields is None:
        return await _again(request, session, deps, ref, token, "invalid-input", status=413)
    phone, email, preferred_channel = fields.get("phone"), fields.get("email"), fields.get("preferred_channel")
    draft = {"phone": phone, "email": email, "preferred_channel": preferred_channel}
    try:
        form = ContactForm(preferred_channel=preferred_channel or None, phone=(phone or "").strip() or None,
                           email=(email or "").strip() or None)
        await handlers.change_contact(session, deps, ref, phone=form.phone, email=form.email,
                                      preferred_channel=form.preferred_channel)
    except ValidationError as exc:
        field = str(exc.errors()[0]["loc"][0]) if exc.errors() else "contact"
        return await _again(request, session, deps, ref, token, f"contact-{field}", draft=draft)
    except LinkInvalid as exc:
        return _refused(request, exc)
    except BookflowError as exc:
        return await _again(request, session, deps, ref, token, exc.code if exc.code != "invalid-input" else
                            f"contact-{'phone' if 'mobile' in exc.detail else 'email'}", draft=draft, status=exc.status)
    return _back(request, token, "contact")


@router.post("/{token}/comments", summary="A comment with photos or videos (C2)",
             response_class=HTMLResponse, status_code=303, responses=POSTED)
async def add_comment(token: str, request: Request, session: Session, deps: Deps) -> Response:
    try:
        ref = await handlers.open_link(session, deps, token, _client(request))
    except (LinkInvalid, TooManyRequests) as exc:
        return _refused(request, exc)
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > deps.limits.max_form_bytes:
        return await _again(request, session, deps, ref, token, "form-too-large", status=413)
    try:
        await handlers.add_comment(session, deps, ref, request.stream(), request.headers.get("content-type", ""))
    except handlers.CommentRefused as exc:
        draft = {k: exc.form.fields.get(k, "")[:2000] for k in ("subject", "description")}
        problem = "comment-files" if exc.form.refusals else f"comment-{exc.detail}"
        return await _again(request, session, deps, ref, token, problem, draft=draft, refusals=exc.form.refusals)
    except uploads.FormTooLarge:
        return await _again(request, session, deps, ref, token, "form-too-large", status=413)
    except LinkInvalid as exc:
        return _refused(request, exc)
    except BookflowError as exc:
        return await _again(request, session, deps, ref, token, exc.code, status=exc.status)
    return _back(request, token, "comment")


@router.post("/{token}/answer", summary="Send the check-in: the optional services chosen (C2, C7)",
             response_class=HTMLResponse, status_code=303, responses=POSTED)
async def send_answer(token: str, request: Request, session: Session, deps: Deps) -> Response:
    try:
        ref = await handlers.open_link(session, deps, token, _client(request))
    except (LinkInvalid, TooManyRequests) as exc:
        return _refused(request, exc)
    form = await _small_form(request)
    if form is None:
        return await _again(request, session, deps, ref, token, "invalid-input", status=413)
    choices: dict[str, domain.Choice] = {}
    for name, value in form.items():
        if name.startswith("service:") and value in ("none", "accept", "contact"):
            choices[name.removeprefix("service:")[:100]] = value  # type: ignore[assignment]
    try:
        await handlers.send_answer(session, deps, ref, choices)
    except LinkInvalid as exc:
        return _refused(request, exc)
    except BookflowError as exc:
        return await _again(request, session, deps, ref, token, exc.code, status=exc.status)
    return _back(request, token, "answer")


async def _again(request: Request, session: AsyncSession, deps: handlers.Deps, ref: handlers.LinkRef, token: str, problem: str,
                 *, status: int = 422, **kw) -> Response:
    """The page again, saying what was wrong (the handler that refused wrote nothing)."""
    try:
        view = await page_view(session, deps, ref)
    except LinkInvalid as exc:
        return _refused(request, exc)
    return _render(request, view, token, status=status, problem=problem, limits=deps.limits, **kw)
