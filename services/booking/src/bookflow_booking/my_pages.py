"""My pages: the customer's own page for one booking, reached by a signed link that expires
(A1, A2). Plain server-rendered HTML that works without JavaScript: see the booking, confirm it,
or rebook into a free slot of the same service."""
from __future__ import annotations

import uuid
from pathlib import Path
from typing import Annotated

from babel.dates import format_datetime
from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from bookflow_booking import domain, handlers, views
from bookflow_booking.dependencies import ClientAddress, Deps
from bookflow_runtime.errors import BookflowError
from bookflow_runtime.http import PROBLEM_RESPONSES, Session

router = APIRouter(prefix="/my", tags=["my pages"])
pages = Jinja2Templates(directory=Path(__file__).parent / "templates")  # autoescapes .html

TEXTS = {
    "en": {"title": "Your booking", "when": "When", "where": "Where", "what": "What", "confirm": "Confirm this time",
           "unconfirmed": "Please confirm the time, or choose another one below.", "confirmed": "Thank you, your booking is confirmed.",
           "booked": "Your booking is registered.", "cancelled": "This booking is cancelled.", "rebooked": "This booking was moved.",
           "see_new": "See your new booking", "rebook": "Choose another time", "rebook_button": "Book the chosen time",
           "no_slots": "There are no other free times right now.", "invalid": "This link is not valid or has expired."},
    "sv": {"title": "Din bokning", "when": "När", "where": "Var", "what": "Vad", "confirm": "Bekräfta tiden",
           "unconfirmed": "Bekräfta tiden, eller välj en annan tid nedan.", "confirmed": "Tack, din bokning är bekräftad.",
           "booked": "Din bokning är registrerad.", "cancelled": "Bokningen är avbokad.", "rebooked": "Bokningen är flyttad.",
           "see_new": "Se din nya bokning", "rebook": "Välj en annan tid", "rebook_button": "Boka vald tid",
           "no_slots": "Det finns inga andra lediga tider just nu.", "invalid": "Länken är ogiltig eller har gått ut."},
    "nb": {"title": "Din avtale", "when": "Når", "where": "Hvor", "what": "Hva", "confirm": "Bekreft tidspunktet",
           "unconfirmed": "Bekreft tidspunktet, eller velg et annet nedenfor.", "confirmed": "Takk, avtalen er bekreftet.",
           "booked": "Avtalen er registrert.", "cancelled": "Avtalen er kansellert.", "rebooked": "Avtalen er flyttet.",
           "see_new": "Se den nye avtalen", "rebook": "Velg et annet tidspunkt", "rebook_button": "Book valgt tidspunkt",
           "no_slots": "Det er ingen andre ledige tider nå.", "invalid": "Lenken er ugyldig eller utløpt."},
}
REBOOKABLE = views.REBOOKABLE


async def link_of(token: str, request: Request, session: Session, deps: Deps, address: ClientAddress) -> handlers.MyPagesLink | None:
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


def _invalid(request: Request, language: str = "en") -> Response:
    return pages.TemplateResponse(request, "invalid.html", {"t": TEXTS[language]}, status_code=403)


_PAGE = {"content": {"text/html": {}}}
_RESPONSES = {
    403: {**_PAGE, "description": "The link is not valid or has expired: a page that says so"},
    429: PROBLEM_RESPONSES[429],
}
_MOVED = {303: {"description": "Done: on to the booking's page (with `?error=<code>` when it was refused)"}, **_RESPONSES}


@router.get("/{token}", response_class=HTMLResponse, summary="The customer's booking page", responses=_RESPONSES)
async def my_page(token: str, request: Request, session: Session, deps: Deps, link: Link,
                  error: Annotated[str | None, Query(max_length=64, pattern=r"^[a-z0-9-]+$")] = None) -> Response:
    page = await views.my_page(session, link.tenant_id, link.booking_id, deps.clock()) if link else None
    if page is None:
        return _invalid(request)
    booking, tenant = page.booking, page.tenant
    language = booking.customer.language if booking.customer.language in TEXTS else tenant.language if tenant.language in TEXTS else "en"

    def when(instant) -> str:
        return format_datetime(instant, "EEEE d MMMM y, HH:mm", tzinfo=tenant.zone, locale=language)

    new_link = deps.link_to(tenant.id, page.rebooked_to) if page.rebooked_to else None
    return pages.TemplateResponse(request, "my_booking.html", {
        "t": TEXTS[language], "lang": language, "booking": booking, "when": when(booking.starts_at), "token": token,
        "place": domain.place_text(booking.place), "slots": [(s.id, when(s.starts_at)) for s in page.free_slots],
        "can_confirm": booking.state == domain.UNCONFIRMED, "can_rebook": booking.state in REBOOKABLE,
        "rebooked": page.rebooked_to is not None, "new_link": new_link, "error": error,
    })


@router.post("/{token}/confirm", summary="The customer confirms (A2)", response_class=RedirectResponse, status_code=303,
             responses=_MOVED)
async def confirm(token: str, request: Request, session: Session, deps: Deps, link: Link) -> Response:
    if link is None:
        return _invalid(request)
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
        return _invalid(request)
    try:
        new = await handlers.rebook(session, deps, link.tenant_id, link.booking_id, slot_id, actor="customer")
    except BookflowError as exc:
        raise ShownOnPage(token, exc.code) from exc
    return RedirectResponse(deps.my_pages_url(new), status_code=303)
