"""My pages: the customer's own page for one booking, reached by a signed link that expires
(A1, A2). Plain server-rendered HTML that works without JavaScript: see the booking, confirm it,
or rebook into a free slot of the same service."""
from __future__ import annotations

import uuid
from pathlib import Path
from typing import Annotated

from babel.dates import format_datetime
from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from bookflow_booking import domain, handlers, storage
from bookflow_runtime.auth import LinkInvalid, read_link
from bookflow_runtime.errors import BookflowError
from bookflow_runtime.http import runtime_of
from bookflow_runtime.runtime import ServiceRuntime

router = APIRouter(prefix="/my", tags=["my pages"])
Runtime = Annotated[ServiceRuntime, Depends(runtime_of)]
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
REBOOKABLE = (domain.UNCONFIRMED, domain.CONFIRMED, domain.BOOKED)


def deps_of(request: Request) -> handlers.Deps:
    return request.app.state.deps


Deps = Annotated[handlers.Deps, Depends(deps_of)]


def _booking_ref(runtime: ServiceRuntime, token: str) -> tuple[str, uuid.UUID]:
    data = read_link(runtime.settings.link_secret, handlers.MY_PAGES, token, runtime.settings.my_pages_link_days * 86400)
    try:
        return str(data["t"]), uuid.UUID(str(data["b"]))
    except (KeyError, ValueError) as exc:
        raise LinkInvalid("the link is not valid") from exc


def _invalid(request: Request, language: str = "en") -> Response:
    return pages.TemplateResponse(request, "invalid.html", {"t": TEXTS[language]}, status_code=403)


@router.get("/{token}", response_class=HTMLResponse, summary="The customer's booking page")
async def my_page(token: str, request: Request, runtime: Runtime, deps: Deps, error: str | None = None) -> Response:
    try:
        tenant_id, booking_id = _booking_ref(runtime, token)
    except LinkInvalid:
        return _invalid(request)
    async with runtime.db.transaction() as session:
        booking = await storage.booking(session, tenant_id, booking_id)
        if booking is None:
            return _invalid(request)
        tenant = await storage.tenant(session, tenant_id)
        row = await storage.booking_row(session, tenant_id, booking_id)
        slots = await storage.free_slots(session, tenant_id, service=booking.service, after=deps.clock()) \
            if booking.state in REBOOKABLE else []
    language = booking.customer.language if booking.customer.language in TEXTS else tenant.language if tenant.language in TEXTS else "en"

    def when(instant) -> str:
        return format_datetime(instant, "EEEE d MMMM y, HH:mm", tzinfo=tenant.zone, locale=language)

    new_link = None
    if row["rebooked_to"] is not None:
        new = await _new_booking(runtime, tenant_id, row["rebooked_to"])
        new_link = deps.my_pages_url(new) if new else None
    return pages.TemplateResponse(request, "my_booking.html", {
        "t": TEXTS[language], "lang": language, "booking": booking, "when": when(booking.starts_at), "token": token,
        "place": domain.place_text(booking.place), "slots": [(s["id"], when(s["starts_at"])) for s in slots],
        "can_confirm": booking.state == domain.UNCONFIRMED, "can_rebook": booking.state in REBOOKABLE,
        "rebooked": row["rebooked_to"] is not None, "new_link": new_link, "error": error,
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
        return _invalid(request)
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
        return _invalid(request)
    except BookflowError as exc:
        return RedirectResponse(f"{request.url_for('my_page', token=token)}?error={exc.code}", status_code=303)
    return RedirectResponse(deps.my_pages_url(new), status_code=303)
