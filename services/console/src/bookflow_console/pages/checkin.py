"""The receptionist's appointment list from the check-in service (C4, C7): pinned appointments
first, each with what the customer answered, handling items (C5) and sharing comments with
mechanics (C6)."""
from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from bookflow_console import texts
from bookflow_console.client import ServiceProblem
from bookflow_console.pages.bookings import parse_day
from bookflow_console.session import Who, check_csrf, is_uuid
from bookflow_console.web import flash, redirect, render, t

router = APIRouter()


@router.get("/checkin")
async def appointments(request: Request, who: Who, date: str | None = None) -> Response:
    who.require("receptionist", "planner")
    the_day = parse_day(date, who)
    lines = await who.api.get("checkin", f"/tenants/{who.tenant_id}/appointments", day=the_day.isoformat())
    return render(request, "checkin.html", who, day=the_day, previous=the_day - timedelta(days=1), next=the_day + timedelta(days=1),
                  lines=lines)


@router.get("/checkin/{booking_id}")
async def appointment(request: Request, who: Who, booking_id: str) -> Response:
    if not is_uuid(booking_id):
        raise ServiceProblem("checkin", 404, "not-found")
    found = await who.api.get("checkin", f"/tenants/{who.tenant_id}/appointments/{booking_id}")
    return render(request, "checkin_appointment.html", who, a=found)


@router.post("/checkin/{booking_id}/items/{item_id}", dependencies=[Depends(check_csrf)])
async def handle_item(request: Request, who: Who, booking_id: str, item_id: str) -> Response:
    who.require("receptionist", "planner")
    form = await request.form()
    action = str(form.get("action") or "handled")
    if action not in ("handled", "add-intervention", "drop-intervention") or not (is_uuid(booking_id) and is_uuid(item_id)):
        raise ServiceProblem("checkin", 404, "not-found")
    try:
        await who.api.post("checkin", f"/tenants/{who.tenant_id}/appointments/{booking_id}/items/{item_id}/handle", {"action": action})
    except ServiceProblem as exc:
        if exc.status in (401, 404) or exc.status >= 500:
            raise
        flash(request, texts.problem_words(who.language, exc), "problem")
    else:
        flash(request, t(who, "The item is handled."))
    return redirect(f"/checkin/{booking_id}")


@router.post("/checkin/{booking_id}/comments/{comment_id}", dependencies=[Depends(check_csrf)])
async def share_comment(request: Request, who: Who, booking_id: str, comment_id: str) -> Response:
    who.require("receptionist", "planner")
    form = await request.form()
    visible = form.get("visible") == "true"
    if not (is_uuid(booking_id) and is_uuid(comment_id)):
        raise ServiceProblem("checkin", 404, "not-found")
    await who.api.put("checkin", f"/tenants/{who.tenant_id}/appointments/{booking_id}/comments/{comment_id}/visible-to-mechanics",
                      {"visible": visible})
    flash(request, t(who, "Mechanics now see this comment.") if visible else t(who, "The comment is hidden from mechanics again."))
    return redirect(f"/checkin/{booking_id}")


@router.get("/checkin/files/{file_id}")
async def customer_file(request: Request, who: Who, file_id: str) -> Response:
    """A customer's photo or video, fetched with the person's token."""
    if not is_uuid(file_id):
        raise ServiceProblem("checkin", 404, "not-found")
    found = await who.api.call("checkin", "GET", f"/tenants/{who.tenant_id}/files/{file_id}", raw=True)
    return Response(found.content, media_type=found.headers.get("content-type", "application/octet-stream"),
                    headers={"Cache-Control": "private, no-store", "X-Content-Type-Options": "nosniff",
                             "Content-Disposition": found.headers.get("content-disposition", "inline")})
