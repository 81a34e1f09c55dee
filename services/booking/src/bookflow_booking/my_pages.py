"""My pages: the customer's own page for one booking, reached by a signed link that expires
(A1, A2). Plain server-rendered HTML that works without JavaScript: see the booking, who it is
with and how to reach them, confirm it, or rebook into a free slot of the same service.

Every word is in the customer's language (else the business's), from the gettext catalogs in
`locale/` (page_texts.py). An error is shown only by its known code (`?error=slot-taken`), in
words; any other text in the link is ignored, so nobody can put their own words on a business's
page. A letter's short link (`/l/K7Q2-MX9P-AB3D`) leads here.
"""
from __future__ import annotations

import itertools
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from bookflow_booking import domain, handlers, page_texts, storage
from bookflow_booking.page_texts import N_
from bookflow_runtime.auth import LinkInvalid, read_link
from bookflow_runtime.errors import BookflowError
from bookflow_runtime.http import runtime_of
from bookflow_runtime.runtime import ServiceRuntime

router = APIRouter(prefix="/my", tags=["my pages"])
short_links = APIRouter(tags=["my pages"])
Runtime = Annotated[ServiceRuntime, Depends(runtime_of)]
pages = Jinja2Templates(directory=Path(__file__).parent / "templates")  # autoescapes .html
page_texts.install(pages.env)

REBOOKABLE = (domain.UNCONFIRMED, domain.CONFIRMED, domain.BOOKED)
# The errors a customer can meet here, by the code the routes put in `?error=`; nothing else shows.
ERRORS = {
    "slot-taken": N_("That time was just taken. Please choose another."),
    "not-found": N_("That time is no longer available. Please choose another."),
    "invalid-booking": N_("That time could not be booked. Please choose another."),
    "transition-not-allowed": N_("This booking can no longer be changed here. Please contact us if you need help."),
}
# Other free times: the six weeks after the booking's own time (or after now, for a booking
# already past), at most 30 choices and at most 6 a day, grouped by day, so a busy calendar
# shows several days to choose from rather than one day's every quarter-hour.
SLOT_WINDOW, SLOTS_SHOWN, SLOTS_PER_DAY = timedelta(weeks=6), 30, 6
SHORT_LINK_GRACE = timedelta(days=7)  # a letter's short link works until a week after the visit


def deps_of(request: Request) -> handlers.Deps:
    return request.app.state.deps


Deps = Annotated[handlers.Deps, Depends(deps_of)]


def _booking_ref(runtime: ServiceRuntime, token: str) -> tuple[str, uuid.UUID]:
    data = read_link(runtime.settings.link_secret, handlers.MY_PAGES, token, runtime.settings.my_pages_link_days * 86400)
    try:
        return str(data["t"]), uuid.UUID(str(data["b"]))
    except (KeyError, ValueError) as exc:
        raise LinkInvalid("the link is not valid") from exc


async def _language_of_link(runtime: ServiceRuntime, token: str | None) -> str | None:
    """The language of the customer a genuine link was made for, also once it has expired (its
    signature still says whose it is); None for a link that is not ours."""
    if token is None:
        return None
    try:
        data = read_link(runtime.settings.link_secret, handlers.MY_PAGES, token, 100 * 365 * 86400)
        tenant_id, booking_id = str(data["t"]), uuid.UUID(str(data["b"]))
    except (LinkInvalid, KeyError, ValueError):
        return None
    async with runtime.db.transaction() as session:
        booking = await storage.booking(session, tenant_id, booking_id)
        tenant = await storage.tenant(session, tenant_id)
    return page_texts.language_for(booking.customer.language if booking else None, tenant.language)


async def _invalid(request: Request, runtime: ServiceRuntime | None = None, token: str | None = None) -> Response:
    """The page for a link that is not valid: in its customer's language when the link says
    whose it is, else in the browser's language, else in all five."""
    language = await _language_of_link(runtime, token) if runtime else None
    language = language or page_texts.from_accept_language(request.headers.get("accept-language"))
    languages = [language] if language else list(page_texts.LANGUAGES)
    return pages.TemplateResponse(request, "invalid.html", {"lang": language or "mul", "languages": languages}, status_code=403)


def _slot_choices(slots: list[dict], language: str, zone) -> list[tuple[str, list[tuple[uuid.UUID, str]]]]:
    """Free slots as [(day, [(slot id, time)])], at most SLOTS_PER_DAY a day and SLOTS_SHOWN in all."""
    groups: list[tuple[str, list[tuple[uuid.UUID, str]]]] = []
    shown = 0
    for day, in_day in itertools.groupby(slots, key=lambda s: s["starts_at"].astimezone(zone).date()):
        if shown >= SLOTS_SHOWN:
            break
        times = [(s["id"], page_texts.clock(s["starts_at"].astimezone(zone), language)) for s in in_day][:SLOTS_PER_DAY]
        times = times[: SLOTS_SHOWN - shown]
        shown += len(times)
        groups.append((page_texts.day(day, language), times))
    return groups


@router.get("/{token}", response_class=HTMLResponse, summary="The customer's booking page")
async def my_page(token: str, request: Request, runtime: Runtime, deps: Deps, error: str | None = None) -> Response:
    try:
        tenant_id, booking_id = _booking_ref(runtime, token)
    except LinkInvalid:
        return await _invalid(request, runtime, token)
    now = deps.clock()
    async with runtime.db.transaction() as session:
        booking = await storage.booking(session, tenant_id, booking_id)
        if booking is None:
            return await _invalid(request)
        tenant = await storage.tenant(session, tenant_id)
        row = await storage.booking_row(session, tenant_id, booking_id)
        until = max(now, booking.starts_at) + SLOT_WINDOW
        slots = await storage.free_slots(session, tenant_id, service=booking.service, after=now, before=until) \
            if booking.state in REBOOKABLE else []
    language = page_texts.language_for(booking.customer.language, tenant.language)

    new_link = None
    if row["rebooked_to"] is not None:
        new = await _new_booking(runtime, tenant_id, row["rebooked_to"])
        new_link = deps.my_pages_url(new) if new else None
    return pages.TemplateResponse(request, "my_booking.html", {
        "lang": language, "booking": booking, "tenant": tenant, "when": page_texts.when(booking.starts_at.astimezone(tenant.zone), language),
        "token": token, "place": domain.place_text(booking.place), "slot_days": _slot_choices(slots, language, tenant.zone),
        "can_confirm": booking.state == domain.UNCONFIRMED, "can_rebook": booking.state in REBOOKABLE,
        "rebooked": row["rebooked_to"] is not None, "new_link": new_link, "error": ERRORS.get(error or ""),
    })


async def _new_booking(runtime: ServiceRuntime, tenant_id: str, booking_id: uuid.UUID) -> domain.Booking | None:
    async with runtime.db.transaction() as session:
        return await storage.booking(session, tenant_id, booking_id)


@router.post("/{token}/confirm", summary="The customer confirms (A2)")
async def confirm(token: str, request: Request, runtime: Runtime, deps: Deps) -> Response:
    try:
        tenant_id, booking_id = _booking_ref(runtime, token)
        async with runtime.db.transaction() as session:
            await handlers.confirm_booking(session, deps, tenant_id, booking_id, actor="customer")
    except LinkInvalid:
        return await _invalid(request, runtime, token)
    except BookflowError as exc:
        return RedirectResponse(f"{request.url_for('my_page', token=token)}?error={exc.code}", status_code=303)
    return RedirectResponse(str(request.url_for("my_page", token=token)), status_code=303)


@router.post("/{token}/rebook", summary="The customer moves the booking to a free slot (A2)")
async def rebook(token: str, slot_id: Annotated[uuid.UUID, Form()], request: Request, runtime: Runtime, deps: Deps) -> Response:
    try:
        tenant_id, booking_id = _booking_ref(runtime, token)
        async with runtime.db.transaction() as session:
            new = await handlers.rebook(session, deps, tenant_id, booking_id, slot_id, actor="customer")
    except LinkInvalid:
        return await _invalid(request, runtime, token)
    except BookflowError as exc:
        return RedirectResponse(f"{request.url_for('my_page', token=token)}?error={exc.code}", status_code=303)
    return RedirectResponse(deps.my_pages_url(new), status_code=303)


@short_links.get("/l/{code}", summary="A letter's short link to My pages: redirects to the signed link")
async def short_link(code: str, request: Request, runtime: Runtime, deps: Deps) -> Response:
    known = domain.short_code_of(code)
    booking = None
    if known is not None:
        async with runtime.db.transaction() as session:
            booking = await storage.booking_by_short_code(session, known)
    if booking is None or deps.clock() > booking.ends_at + SHORT_LINK_GRACE:
        return await _invalid(request)
    return RedirectResponse(deps.my_pages_url(booking), status_code=303)

