"""The planner's desk (flow B): work orders by state, locking a technician's day with each
refusal explained (B1), printing letters and downloading them (B2), the orders customers
answered (B3), moving to manual follow-up (B5) and working it (B7), and replies no order matched."""
from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from bookflow_console import texts
from bookflow_console.client import ServiceProblem
from bookflow_console.pages.bookings import ACTION_NAMES, parse_day, technicians
from bookflow_console.session import Viewer, Who, check_csrf, is_uuid
from bookflow_console.web import render, t

router = APIRouter()
ORDER_STATES = ("planned", "ready-for-print", "awaiting-response", "manual-follow-up", "ready-for-execution", "on-hold")


async def _orders(who: Viewer) -> dict[str, list[dict[str, Any]]]:
    orders = await who.api.get("booking", f"/tenants/{who.tenant_id}/bookings", state=list(ORDER_STATES))
    by_state: dict[str, list[dict[str, Any]]] = {s: [] for s in ORDER_STATES}
    for order in orders:
        by_state.setdefault(order["state"], []).append(order)
    return by_state


async def _page(request: Request, who: Viewer, state: str, day: str | None = None, outcome: dict[str, Any] | None = None,
                status: int = 200) -> Response:
    state = state if state in ORDER_STATES else "planned"
    by_state = await _orders(who)
    names = await technicians(who)
    return render(request, "orders.html", who, status=status, state=state, states=ORDER_STATES, by_state=by_state,
                  orders=by_state.get(state, []), names=names, day=parse_day(day, who), outcome=outcome, action_names=ACTION_NAMES)


@router.get("/orders")
async def orders_page(request: Request, who: Who, state: str = "planned", day: str | None = None) -> Response:
    who.require("planner")
    return await _page(request, who, state, day)


def _described(all_orders: dict[str, dict[str, Any]], refused: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"order": all_orders.get(r["booking_id"], {"id": r["booking_id"]}), "reasons": r["reasons"]} for r in refused]


async def _everything(who: Viewer) -> dict[str, dict[str, Any]]:
    return {o["id"]: o for o in await who.api.get("booking", f"/tenants/{who.tenant_id}/bookings")}


@router.post("/orders/lock", dependencies=[Depends(check_csrf)])
async def lock(request: Request, who: Who) -> Response:
    """B1: a technician's whole day, or the orders ticked; each refused order with its reasons."""
    who.require("planner")
    form = await request.form()
    ids = [str(i) for i in form.getlist("booking_id") if is_uuid(str(i))]
    technician, day = str(form.get("technician_id") or ""), str(form.get("day") or "")
    body: dict[str, Any] = {"booking_ids": ids} if ids else {"technician_id": technician, "day": day}
    if not ids and not (is_uuid(technician) and day):
        return await _page(request, who, "planned", day, {"kind": "problem", "text": t(who, "Choose a technician and a day, or tick the orders to lock.")}, 422)
    before = await _everything(who)
    try:
        locked = await who.api.post("booking", f"/tenants/{who.tenant_id}/orders/lock", body)
    except ServiceProblem as exc:
        if exc.status in (401, 404) or exc.status >= 500:
            raise
        return await _page(request, who, "planned", day, {"kind": "problem", "text": texts.problem_words(who.language, exc),
                                                           "fields": texts.field_problems(who.language, exc)}, 422)
    outcome = {"kind": "lock", "done": [before.get(d["booking_id"], {"id": d["booking_id"]}) | {"booking_code": d["booking_code"]}
                                        for d in locked["locked"]],
               "refused": _described(before, locked["refused"])}
    return await _page(request, who, "ready-for-print" if locked["locked"] and not locked["refused"] else "planned", day, outcome)


@router.post("/orders/letters", dependencies=[Depends(check_csrf)])
async def letters(request: Request, who: Who) -> Response:
    """B2: letters (or booking SMS) for the orders ticked, or for every order ready for print."""
    who.require("planner")
    form = await request.form()
    ids = [str(i) for i in form.getlist("booking_id") if is_uuid(str(i))]
    by = "sms" if form.get("by") == "sms" else "letter"
    everything = form.get("which") == "all" and by == "letter"
    if not everything and not ids:
        return await _page(request, who, "ready-for-print", None, {"kind": "problem", "text": t(who, "Tick the orders first.")}, 422)
    body: dict[str, Any] = {"by": by} | ({} if everything else {"booking_ids": ids})
    before = await _everything(who)
    try:
        sent = await who.api.post("booking", f"/tenants/{who.tenant_id}/orders/letters", body)
    except ServiceProblem as exc:
        if exc.status in (401, 404) or exc.status >= 500:
            raise
        return await _page(request, who, "ready-for-print", None, {"kind": "problem", "text": texts.problem_words(who.language, exc)}, 422)
    outcome = {"kind": "letters" if by == "letter" else "sms", "done": [before.get(d["booking_id"], {"id": d["booking_id"]}) for d in sent["sent"]],
               "refused": _described(before, sent["refused"])}
    return await _page(request, who, "awaiting-response" if sent["sent"] else "ready-for-print", None, outcome)


@router.get("/letters")
async def letters_page(request: Request, who: Who) -> Response:
    """Letters written to the tenant's folder, newest first, each to download."""
    who.require("planner")
    written = await who.api.get("notification", f"/tenants/{who.tenant_id}/messages", channel="letter")
    written.sort(key=lambda m: m.get("created_at") or "", reverse=True)
    bookings = await _everything(who)
    return render(request, "letters.html", who, letters=written[:300], bookings=bookings)


@router.get("/letters/{message_id}.pdf")
async def letter_pdf(request: Request, who: Who, message_id: str) -> Response:
    """A letter's PDF, from the notification service with the person's own token (which answers
    "not found" for another tenant's letter)."""
    who.require("planner")
    if not is_uuid(message_id):
        raise ServiceProblem("notification", 404, "not-found")
    response = await who.api.call("notification", "GET", f"/tenants/{who.tenant_id}/letters/{message_id}", raw=True)
    return Response(response.content, media_type="application/pdf",
                    headers={"Content-Disposition": f'attachment; filename="letter-{message_id[:8]}.pdf"', "Cache-Control": "private, no-store"})


@router.get("/replies")
async def unmatched_replies(request: Request, who: Who) -> Response:
    """B3: answers whose code matched no order, kept for the planner."""
    who.require("planner")
    replies = await who.api.get("booking", f"/tenants/{who.tenant_id}/replies/unmatched")
    return render(request, "replies.html", who, replies=list(reversed(replies)))
