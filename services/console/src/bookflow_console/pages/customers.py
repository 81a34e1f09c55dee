"""Customers, for the desk (receptionists and planners): search by name, phone, e-mail or
customer number, and the customer card with contact details, language, preferred channel and
consent (changed here), their bookings and what was sent to them."""
from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from bookflow_console import texts
from bookflow_console.client import ServiceProblem
from bookflow_console.session import Viewer, Who, check_csrf, is_uuid
from bookflow_console.web import flash, redirect, render, t

router = APIRouter()
_PHONE_LIKE = re.compile(r"^\+?[0-9][0-9 ()./-]{4,30}$")
DETAILS = ("name", "phone", "email", "customer_number", "language", "preferred_channel")
ADDRESS = ("street", "postcode", "city")
CONSENT_SOURCES = {"staff": texts.N_("by staff"), "my-pages": texts.N_("by the customer on My pages"),
                   "check-in": texts.N_("by the customer at check-in")}


async def search(who: Viewer, words: str) -> list[dict[str, Any]]:
    """Customers the words could mean: an e-mail address, a phone number or a customer number,
    or part of a name (the booking service takes one criterion per question, so ask each)."""
    base = f"/tenants/{who.tenant_id}/customers"
    if "@" in words:
        questions = [{"email": words}]
    elif _PHONE_LIKE.match(words):
        questions = [{"phone": words}, {"customer_number": words}]
    else:
        questions = [{"name": words}, {"customer_number": words}]
    found: dict[str, dict[str, Any]] = {}
    for question in questions:
        try:
            for customer in await who.api.get("booking", base, **question):
                found.setdefault(customer["id"], customer)
        except ServiceProblem as exc:
            if exc.status != 422 or len(questions) == 1:  # a phone number the service cannot read: the other question may answer
                raise
    return sorted(found.values(), key=lambda c: (c["name"].casefold(), c["id"]))


@router.get("/customers")
async def customers_page(request: Request, who: Who, q: str = "") -> Response:
    who.require("receptionist", "planner")
    words = q.strip()[:200]
    problem = None
    found: list[dict[str, Any]] = []
    if words:
        try:
            found = await search(who, words)
        except ServiceProblem as exc:
            if exc.status != 422:
                raise
            problem = {"text": t(who, "Search by part of a name, a phone number, an e-mail address or a customer number."), "fields": []}
    return render(request, "customers.html", who, q=words, found=found, searched=bool(words), problem=problem)


async def _card(request: Request, who: Viewer, customer_id: str, problem: dict[str, Any] | None = None, status: int = 200,
                entered: dict[str, Any] | None = None) -> Response:
    if not is_uuid(customer_id):
        raise ServiceProblem("booking", 404, "not-found")
    card = await who.api.get("booking", f"/tenants/{who.tenant_id}/customers/{customer_id}")
    shown = card | (entered or {})
    return render(request, "customer.html", who, status=status, c=card, form=shown, problem=problem,
                  channel_names=texts.CHANNELS, consent_sources=CONSENT_SOURCES, bookings=sorted(card["bookings"], key=lambda b: b["starts_at"], reverse=True),
                  log=sorted(card["communication_log"], key=lambda e: e["at"], reverse=True))


@router.get("/customers/{customer_id}")
async def customer_page(request: Request, who: Who, customer_id: str) -> Response:
    who.require("receptionist", "planner")
    return await _card(request, who, customer_id)


def changes(form: Any, card: dict[str, Any]) -> dict[str, Any]:
    """What the person changed on the card, as the booking service's PATCH takes it: only the
    fields that differ (so the customer's history names real changes); an emptied field is null."""
    body: dict[str, Any] = {}
    for name in DETAILS:
        value = str(form.get(name) or "").strip() or None
        if value != card.get(name):
            body[name] = value
    address = {k: str(form.get(k) or "").strip() or None for k in ADDRESS}
    stored = {k: (card.get("address") or {}).get(k) for k in ADDRESS}
    if address != stored:
        body["address"] = address if any(address.values()) else None
    consent = {"yes": True, "no": False}.get(str(form.get("marketing_consent") or ""))
    if consent is not None and consent != card.get("marketing_consent"):
        body["marketing_consent"] = consent
    return body


@router.post("/customers/{customer_id}", dependencies=[Depends(check_csrf)])
async def save_customer(request: Request, who: Who, customer_id: str) -> Response:
    who.require("receptionist", "planner")
    if not is_uuid(customer_id):
        raise ServiceProblem("booking", 404, "not-found")
    card = await who.api.get("booking", f"/tenants/{who.tenant_id}/customers/{customer_id}")
    body = changes(await request.form(), card)
    if not body:
        flash(request, t(who, "Nothing was changed."))
        return redirect(f"/customers/{customer_id}")
    try:
        await who.api.patch("booking", f"/tenants/{who.tenant_id}/customers/{customer_id}", body)
    except ServiceProblem as exc:
        if exc.status in (401, 404) or exc.status >= 500:
            raise
        problem = {"text": texts.problem_words(who.language, exc), "fields": texts.field_problems(who.language, exc)}
        return await _card(request, who, customer_id, problem, 422, entered=body)
    flash(request, t(who, "Saved. Messages from now on use these details."))
    return redirect(f"/customers/{customer_id}")
