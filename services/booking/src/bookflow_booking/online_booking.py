"""Online booking (D2, D5): the customer's page for booking a service again, reached by the
signed link the recall service puts in a book-again reminder (`read_link(link_secret,
"online-booking", token, max_age)` with `{"t": tenant, "c": customer, "s": service, "src":
"book-again", "r": reminder}`). Server-rendered like My pages, in the customer's language, from
the same gettext catalogs: the service's free times of the coming weeks grouped by day, and one
button to book. The booking is marked with where it came from ("via book-again reminder") and the
reminder; a link books once, and bad links are limited per address as on My pages."""
from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from bookflow_booking import handlers, page_texts, views
from bookflow_booking.dependencies import ClientAddress, Deps
from bookflow_booking.my_pages import ERRORS, _invalid, _RESPONSES, _slot_choices, pages
from bookflow_booking.page_texts import N_
from bookflow_runtime.errors import BookflowError
from bookflow_runtime.http import Session

router = APIRouter(prefix="/book", tags=["online booking"])
BOOKING_ERRORS = {**ERRORS, "not-bookable-online": N_("This service cannot be booked online. Please contact us.")}


async def link_of(token: str, session: Session, deps: Deps, address: ClientAddress) -> handlers.OnlineBookingLink | None:
    """What the link in the path offers; None when it is not valid (counted against the caller's address)."""
    return await handlers.open_online_booking_link(session, deps, token, address)


Link = Annotated[handlers.OnlineBookingLink | None, Depends(link_of)]


class RefusedOnPage(Exception):
    """The booking was refused: the page is shown again with the reason (`code`), after the
    request's transaction is rolled back."""

    def __init__(self, token: str, code: str) -> None:
        super().__init__(code)
        self.token, self.code = token, code


async def show_refusal(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RefusedOnPage)
    return RedirectResponse(f"{request.url_for('online_booking_page', token=exc.token)}?error={exc.code}", status_code=303)


@router.get("/{token}", response_class=HTMLResponse, summary="The customer's online booking page (D2)", responses=_RESPONSES)
async def online_booking_page(token: str, request: Request, session: Session, deps: Deps, link: Link,
                              error: Annotated[str | None, Query(description="A known error code to explain; anything else is ignored.")] = None
                              ) -> Response:
    page = await views.online_booking_page(session, link.tenant_id, link.customer_id, link.service, link.source, link.reminder_id,
                                           deps.clock()) if link else None
    if page is None:
        return await _invalid(request, session, deps)
    tenant = page.tenant
    language = page_texts.language_for(page.customer.language, tenant.language)
    booked = page.booked
    return pages.TemplateResponse(request, "book_online.html", {
        "lang": language, "tenant": tenant, "token": token, "service_name": page.service_name, "bookable": page.bookable,
        "slot_days": _slot_choices(page.free_slots, language, tenant.zone), "error": BOOKING_ERRORS.get(error or ""),
        "booked_when": page_texts.when(booked.starts_at.astimezone(tenant.zone), language) if booked else None,
        "booked_link": deps.my_pages_url(booked) if booked else None,
    })


@router.post("/{token}", summary="The customer books a free time (D2, D5)", response_class=RedirectResponse, status_code=303,
             responses={303: {"description": "Booked: on to the booking's My page (or back with `?error=<code>`)"}, **_RESPONSES})
async def book(token: str, slot_id: Annotated[uuid.UUID, Form()], request: Request, session: Session, deps: Deps, link: Link) -> Response:
    if link is None:
        return await _invalid(request, session, deps)
    try:
        booking = await handlers.book_online(session, deps, link, slot_id)
    except BookflowError as exc:
        raise RefusedOnPage(token, exc.code) from exc
    return RedirectResponse(deps.my_pages_url(booking), status_code=303)
