"""The day's bookings per technician (confirmed or not at a glance), a booking with its history,
actions and communication log (A6, B5, B7), freed slots (A4), and the technician's work list
(A5, B8), which is made for a phone."""
from __future__ import annotations

import uuid
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from bookflow_console import texts
from bookflow_console.client import ServiceProblem
from bookflow_console.session import Viewer, Who, check_csrf
from bookflow_console.web import flash, redirect, render, t

router = APIRouter()

# What staff can do from each state (booking's transition table), and who may.
ACTIONS: dict[str, list[str]] = {
    "unconfirmed": ["confirm", "reschedule", "cancel"],
    "confirmed": ["reschedule", "cancel"],
    "booked": ["reschedule", "cancel"],
    "planned": ["lock", "cancel"],
    "ready-for-print": ["letter", "booking-sms", "cancel"],
    "awaiting-response": ["follow-up-manually", "cancel"],
    "manual-follow-up": ["send-to-execution", "confirm-by-sms", "reschedule", "hold", "cancel"],
    "on-hold": ["resume", "reschedule", "cancel"],
    "ready-for-execution": ["cancel"],
}
PLANNERS_ONLY = {"lock", "letter", "booking-sms", "follow-up-manually", "send-to-execution", "confirm-by-sms", "reschedule", "hold",
                 "resume"}
ACTION_NAMES = {
    "confirm": texts.N_("Confirm on the customer's word"), "cancel": texts.N_("Cancel the booking"),
    "lock": texts.N_("Lock: give it a booking code"), "letter": texts.N_("Print the letter"),
    "booking-sms": texts.N_("Send a booking SMS instead"), "follow-up-manually": texts.N_("Move to manual follow-up"),
    "send-to-execution": texts.N_("Send to execution (no SMS)"), "confirm-by-sms": texts.N_("Confirm by SMS"),
    "resume": texts.N_("Back from hold"), "reschedule": texts.N_("Reschedule"), "hold": texts.N_("Put on hold"),
}
TRANSITION_ACTIONS = {"confirm", "cancel", "follow-up-manually", "send-to-execution", "confirm-by-sms", "resume"}


def parse_day(value: str | None, who: Viewer) -> date:
    try:
        return date.fromisoformat(value) if value else datetime.now(ZoneInfo(who.zone)).date()
    except ValueError:
        return datetime.now(ZoneInfo(who.zone)).date()


async def technicians(who: Viewer) -> dict[str, str]:
    return {t_["id"]: t_["name"] for t_ in await who.api.get("booking", f"/tenants/{who.tenant_id}/technicians")}


def actions_for(who: Viewer, state: str) -> list[str]:
    return [a for a in ACTIONS.get(state, []) if who.has("planner") or (a not in PLANNERS_ONLY and who.has("receptionist", "planner"))]


@router.get("/day")
async def day_page(request: Request, who: Who, date: str | None = None, cancelled: bool = False) -> Response:
    if who.only_technician:
        return redirect("/work")
    the_day = parse_day(date, who)
    names = await technicians(who)
    bookings = await who.api.get("booking", f"/tenants/{who.tenant_id}/bookings", day=the_day.isoformat())
    shown = [b for b in bookings if cancelled or b["state"] != "cancelled"]
    groups: dict[str | None, list[dict]] = {}
    for booking in shown:
        groups.setdefault(booking.get("technician_id"), []).append(booking)
    columns = [(tid, names.get(tid) if tid else t(who, "No technician"), items) for tid, items in groups.items()]
    columns.sort(key=lambda c: (c[0] is None, c[1] or ""))
    confirmed = sum(1 for b in shown if b["confirmed"])
    return render(request, "day.html", who, day=the_day, previous=the_day - timedelta(days=1), next=the_day + timedelta(days=1),
                  columns=columns, total=len(shown), confirmed=confirmed, cancelled=cancelled)


async def _messages(who: Viewer, booking_id: str) -> tuple[list[dict[str, Any]], str | None]:
    """The booking's communication log, or why it cannot be shown now (the page still shows the rest)."""
    try:
        return await who.api.get("notification", f"/tenants/{who.tenant_id}/messages", booking_id=booking_id), None
    except ServiceProblem as exc:
        if exc.status == 401:
            raise
        return [], texts.problem_words(who.language, exc)


@router.get("/bookings/{booking_id}")
async def booking_page(request: Request, who: Who, booking_id: str) -> Response:
    if not _is_id(booking_id):
        raise ServiceProblem("booking", 404, "not-found")
    booking = await who.api.get("booking", f"/tenants/{who.tenant_id}/bookings/{booking_id}")
    if who.only_technician and not booking["confirmed"]:
        raise ServiceProblem("booking", 404, "not-found")  # a technician sees the bookings of their work list
    names = await technicians(who)
    messages, log_problem = await _messages(who, booking_id)
    cost = sum(float(m["cost"]) for m in messages if m.get("cost") not in (None, ""))
    currency = next((m["currency"] for m in messages if m.get("currency")), None)
    return render(request, "booking.html", who, b=booking, names=names, messages=messages, log_problem=log_problem,
                  actions=actions_for(who, booking["state"]), action_names=ACTION_NAMES, cost=cost, currency=currency,
                  local_start=_local_parts(booking["starts_at"], who), minutes=_minutes(booking), problem=None)


def _is_id(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def _local_parts(instant: str, who: Viewer) -> tuple[str, str]:
    local = datetime.fromisoformat(instant).astimezone(ZoneInfo(who.zone))
    return local.date().isoformat(), local.strftime("%H:%M")


def _minutes(booking: dict[str, Any]) -> int:
    return int((datetime.fromisoformat(booking["ends_at"]) - datetime.fromisoformat(booking["starts_at"])).total_seconds() // 60)


def local_instant(day_text: str, clock_text: str, who: Viewer) -> str:
    """A date and a time as the person typed them, in the tenant's zone, as ISO 8601."""
    moment = datetime.combine(date.fromisoformat(day_text), time.fromisoformat(clock_text), tzinfo=ZoneInfo(who.zone))
    return moment.isoformat()


@router.post("/bookings/{booking_id}/actions/{action}", dependencies=[Depends(check_csrf)])
async def act(request: Request, who: Who, booking_id: str, action: str) -> Response:
    if action not in ACTION_NAMES or not _is_id(booking_id):
        raise ServiceProblem("booking", 404, "not-found")
    who.require(*(("planner",) if action in PLANNERS_ONLY else ("planner", "receptionist")))
    form = await request.form()
    reason = str(form.get("reason") or "").strip() or None
    base = f"/tenants/{who.tenant_id}"
    api = who.api
    done = t(who, "Done: %(action)s.", action=t(who, ACTION_NAMES[action]).lower())
    if action in TRANSITION_ACTIONS:
        call = lambda: api.post("booking", f"{base}/bookings/{booking_id}/transitions/{action}", {"reason": reason} if reason else {})  # noqa: E731
    elif action == "lock":
        async def call():
            locked = await api.post("booking", f"{base}/orders/lock", {"booking_ids": [booking_id]})
            if locked["refused"]:
                raise ServiceProblem("booking", 409, "refused", "; ".join(texts.refusal(who.language, r) for r in locked["refused"][0]["reasons"]))
    elif action in ("letter", "booking-sms"):
        async def call():
            sent = await api.post("booking", f"{base}/orders/letters", {"booking_ids": [booking_id], "by": "letter" if action == "letter" else "sms"})
            if sent["refused"]:
                raise ServiceProblem("booking", 409, "refused", "; ".join(texts.refusal(who.language, r) for r in sent["refused"][0]["reasons"]))
    elif action == "reschedule":
        try:
            body: dict[str, Any] = {"starts_at": local_instant(str(form.get("day")), str(form.get("time")), who),
                                    "estimate": f"PT{int(str(form.get('minutes') or 60))}M"}
        except ValueError:
            flash(request, t(who, "Give the new day, time and length of the visit."), "problem")
            return redirect(f"/bookings/{booking_id}")
        if form.get("technician_id"):
            body["technician_id"] = str(form.get("technician_id"))
        if str(form.get("sequence") or "").isdigit():
            body["sequence"] = int(str(form.get("sequence")))
        if reason:
            body["reason"] = reason
        call = lambda: api.post("booking", f"{base}/bookings/{booking_id}/reschedule", body)  # noqa: E731
    else:  # hold
        body = {"back_around": str(form.get("back_around") or "")}
        technician = str(form.get("technician_id") or "")
        if technician == "none":
            body["technician_id"] = None
        elif technician and technician != "keep":
            body["technician_id"] = technician
        if reason:
            body["reason"] = reason
        call = lambda: api.post("booking", f"{base}/bookings/{booking_id}/hold", body)  # noqa: E731
    try:
        await call()
    except ServiceProblem as exc:
        if exc.status in (401, 404) or exc.status >= 500:
            raise
        words = exc.detail if exc.code == "refused" else " ".join([texts.problem_words(who.language, exc), *texts.field_problems(who.language, exc)])
        flash(request, words, "problem")
        return redirect(f"/bookings/{booking_id}")
    flash(request, done)
    back = str(form.get("back") or "")
    return redirect(back if back.startswith("/") and not back.startswith("//") else f"/bookings/{booking_id}")


@router.get("/freed-slots")
async def freed_slots(request: Request, who: Who, reason: str | None = None) -> Response:
    who.require("planner", "receptionist")
    slots = await who.api.get("booking", f"/tenants/{who.tenant_id}/freed-slots", reason=reason if reason in texts.FREED_REASONS else None)
    return render(request, "freed_slots.html", who, slots=slots, names=await technicians(who), reason=reason)


@router.get("/work")
async def work_list(request: Request, who: Who, date: str | None = None, technician: str | None = None) -> Response:
    the_day = parse_day(date, who)
    names = await technicians(who)
    chosen = who.technician_id if who.only_technician else (technician or who.technician_id)
    items: list[dict[str, Any]] = []
    if chosen:
        items = await who.api.get("booking", f"/tenants/{who.tenant_id}/technicians/{chosen}/work-list", day=the_day.isoformat())
    return render(request, "work.html", who, day=the_day, previous=the_day - timedelta(days=1), next=the_day + timedelta(days=1),
                  items=items, names=names, chosen=chosen)
