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

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi import Path as FastAPIPath
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from bookflow_booking import domain, handlers, page_texts, views
from bookflow_booking.dependencies import ClientAddress, Deps
from bookflow_booking.page_texts import N_
from bookflow_runtime.errors import BookflowError
from bookflow_runtime.http import PROBLEM_RESPONSES, Session

router = APIRouter(prefix="/my", tags=["my pages"])
short_links = APIRouter(tags=["my pages"])
pages = Jinja2Templates(directory=Path(__file__).parent / "templates")  # autoescapes .html
page_texts.install(pages.env)

REBOOKABLE = views.REBOOKABLE
# The errors a customer can meet here, by the code the routes put in `?error=`; nothing else shows.
ERRORS = {
    "slot-taken": N_("That time was just taken. Please choose another."),
    "not-found": N_("That time is no longer available. Please choose another."),
    "invalid-booking": N_("That time could not be booked. Please choose another."),
    "transition-not-allowed": N_("This booking can no longer be changed here. Please contact us if you need help."),
}
# Other free times: at most 30 choices and at most 6 a day, grouped by day, so a busy calendar
# shows several days to choose from rather than one day's every quarter-hour (the window of
# days is views.SLOT_WINDOW).
SLOTS_SHOWN, SLOTS_PER_DAY = 30, 6
SHORT_LINK_GRACE = timedelta(days=7)  # a letter's short link works until a week after the visit


async def link_of(token: str, session: Session, deps: Deps, address: ClientAddress) -> handlers.MyPagesLink | None:
    """The booking the link in the path opens; None when the link is not valid (counted against
    the caller's address, which is told to wait after too many)."""
    return await handlers.open_link(session, deps, token, address)


Link = Annotated[handlers.MyPagesLink | None, Depends(link_of)]


class ShownOnPage(Exception):
    """A customer's action was refused: the page is shown again with the reason (`code`). Raised
    rather than returned, so the request's transaction is rolled back first."""

    def __init__(self, token: str, code: str) -> None:
        super().__init__(code)
        self.token, self.code = token, code


async def show_on_page(request: Request, exc: Exception) -> Response:
    """The exception handler of `ShownOnPage` (registered by `create_app`)."""
    assert isinstance(exc, ShownOnPage)
    return RedirectResponse(f"{request.url_for('my_page', token=exc.token)}?error={exc.code}", status_code=303)


async def _invalid(request: Request, session: Session, deps: Deps, token: str | None = None) -> Response:
    """The page for a link that is not valid: in its customer's language when the link says
    whose it is (also once expired: its signature still says so), else in the browser's
    language, else in all five."""
    language = await views.language_of_link(session, deps, token) if token else None
    language = language or page_texts.from_accept_language(request.headers.get("accept-language"))
    languages = [language] if language else list(page_texts.LANGUAGES)
    return pages.TemplateResponse(request, "invalid.html", {"lang": language or "mul", "languages": languages}, status_code=403)


def _slot_choices(slots: list[domain.Slot], language: str, zone) -> list[tuple[str, list[tuple[uuid.UUID, str]]]]:
    """Free slots as [(day, [(slot id, time)])], at most SLOTS_PER_DAY a day and SLOTS_SHOWN in all."""
    groups: list[tuple[str, list[tuple[uuid.UUID, str]]]] = []
    shown = 0
    for day, in_day in itertools.groupby(slots, key=lambda s: s.starts_at.astimezone(zone).date()):
        if shown >= SLOTS_SHOWN:
            break
        times = [(s.id, page_texts.clock(s.starts_at.astimezone(zone), language)) for s in in_day][:SLOTS_PER_DAY]
        times = times[: SLOTS_SHOWN - shown]
        shown += len(times)
        groups.append((page_texts.day(day, language), times))
    return groups


_PAGE = {"content": {"text/html": {}}}
_RESPONSES = {
    403: {**_PAGE, "description": "The link is not valid or has expired: a page that says so"},
    429: PROBLEM_RESPONSES[429],
}
_MOVED = {303: {"description": "Done: on to the booking's page (with `?error=<code>` when it was refused)"}, **_RESPONSES}


@router.get("/{token}", response_class=HTMLResponse, summary="The customer's booking page", responses=_RESPONSES)
async def my_page(token: str, request: Request, session: Session, deps: Deps, link: Link,
                  error: Annotated[str | None, Query(description="A known error code to explain; anything else is ignored.")] = None) -> Response:
    page = await views.my_page(session, link.tenant_id, link.booking_id, deps.clock()) if link else None
    if page is None:
        return await _invalid(request, session, deps, token)
    booking, tenant = page.booking, page.tenant
    language = page_texts.language_for(booking.customer.language, tenant.language)
    new_link = deps.link_to(tenant.id, page.rebooked_to) if page.rebooked_to else None
    return pages.TemplateResponse(request, "my_booking.html", {
        "lang": language, "booking": booking, "tenant": tenant, "when": page_texts.when(booking.starts_at.astimezone(tenant.zone), language),
        "token": token, "place": domain.place_text(booking.place), "slot_days": _slot_choices(page.free_slots, language, tenant.zone),
        "can_confirm": booking.state == domain.UNCONFIRMED, "can_rebook": booking.state in REBOOKABLE,
        "rebooked": page.rebooked_to is not None, "new_link": new_link, "error": ERRORS.get(error or ""),
    })


@router.post("/{token}/confirm", summary="The customer confirms (A2)", response_class=RedirectResponse, status_code=303,
             responses=_MOVED)
async def confirm(token: str, request: Request, session: Session, deps: Deps, link: Link) -> Response:
    if link is None:
        return await _invalid(request, session, deps, token)
    try:
        await handlers.confirm_booking(session, deps, link.tenant_id, link.booking_id, actor="customer")
    except BookflowError as exc:
        raise ShownOnPage(token, exc.code) from exc
    return RedirectResponse(str(request.url_for("my_page", token=token)), status_code=303)


@router.post("/{token}/rebook", summary="The customer moves the booking to a free slot (A2)", response_class=RedirectResponse,
             status_code=303, responses=_MOVED)
async def rebook(token: str, slot_id: Annotated[uuid.UUID, Form()], request: Request, session: Session, deps: Deps,
                 link: Link) -> Response:
    if link is None:
        return await _invalid(request, session, deps, token)
    try:
        new = await handlers.rebook(session, deps, link.tenant_id, link.booking_id, slot_id, actor="customer")
    except BookflowError as exc:
        raise ShownOnPage(token, exc.code) from exc
    return RedirectResponse(deps.my_pages_url(new), status_code=303)


@short_links.get("/l/{code}", summary="A letter's short link to My pages: redirects to the signed link",
                 response_class=RedirectResponse, status_code=303, responses=_RESPONSES)
async def short_link(code: Annotated[str, FastAPIPath(max_length=32)], request: Request, session: Session, deps: Deps) -> Response:
    booking = await views.booking_by_short_code(session, code)
    if booking is None or deps.clock() > booking.ends_at + SHORT_LINK_GRACE:
        return await _invalid(request, session, deps)
    return RedirectResponse(deps.my_pages_url(booking), status_code=303)
