"""The staff API, every route under `/tenants/{tenant_id}` and only for that tenant's staff:
bookings and work orders, their actions, lists by state, technicians, slots, freed slots, the
technician's work list, replies no order matched, and each booking's communication log.

Each route is one handler call (writes, answering with the one read of what was written) or one
read query (reads); the transaction comes from `Session`."""
from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Request

from bookflow_booking import commands, domain, handlers, views
from bookflow_booking.dependencies import Deps, IdempotencyKey, KnownStaff, TenantId, staff_of_known_tenant
from bookflow_runtime.auth import staff_with
from bookflow_runtime.http import PROBLEM_RESPONSES, Session
from bookflow_runtime.inputs import Day, Line

router = APIRouter(prefix="/tenants/{tenant_id}", tags=["staff"], dependencies=[Depends(staff_of_known_tenant)])
Planner = staff_with("planner")  # flow B's planner actions (issue 13); the full role pass is the lead's
State = Literal[domain.STATES]  # type: ignore[valid-type]

STAFF_TRANSITIONS = ("confirm", "cancel", "follow-up-manually", "send-to-execution", "confirm-by-sms", "resume")
"""Moves staff make with nothing but a reason; rescheduling and holding have their own routes."""
StaffTransition = Literal[STAFF_TRANSITIONS]  # type: ignore[valid-type]


# --- bookings --------------------------------------------------------------------------------


@router.post("/bookings", status_code=201, summary="Create a booking or work order")
async def create_booking(tenant_id: TenantId, body: commands.CreateBooking, session: Session, deps: Deps, staff: KnownStaff,
                         idempotency_key: IdempotencyKey = None) -> views.BookingView:
    """A booking must start in the future; `record_only` records a visit that took place, and
    sends nothing. With an `Idempotency-Key`, a retry gives the booking made the first time."""
    booking_id = await handlers.create_booking(session, deps, tenant_id, body, idempotency_key=idempotency_key)
    return await views.booking(session, tenant_id, booking_id)


@router.get("/bookings", summary="Bookings by state, technician, service and day")
async def list_bookings(
    tenant_id: TenantId, session: Session, staff: KnownStaff,
    state: Annotated[list[State] | None, Query(description="Such as unconfirmed, ready-for-print, manual-follow-up.")] = None,
    technician_id: uuid.UUID | None = None, service: Annotated[Line(100) | None, Query()] = None,
    day: Annotated[Day | None, Query(description="Starting on this day in the tenant's zone.")] = None,
) -> list[views.BookingSummary]:
    return await views.bookings_of(session, tenant_id, states=tuple(state or ()), technician_id=technician_id, service=service, day=day)


@router.get("/bookings/{booking_id}", summary="One booking: state, history, replies, reminders")
async def get_booking(tenant_id: TenantId, booking_id: uuid.UUID, session: Session, staff: KnownStaff) -> views.BookingView:
    return await views.booking(session, tenant_id, booking_id)


@router.patch("/bookings/{booking_id}", summary="Edit a booking's customer, place or service")
async def edit_booking(tenant_id: TenantId, booking_id: uuid.UUID, body: commands.EditBooking, session: Session,
                       staff: KnownStaff) -> views.BookingView:
    await handlers.edit_booking(session, tenant_id, booking_id, body, actor=staff.actor)
    return await views.booking(session, tenant_id, booking_id)


@router.post("/bookings/{booking_id}/transitions/{name}", summary="Confirm, cancel, follow up, send to execution…")
async def move_booking(tenant_id: TenantId, booking_id: uuid.UUID, name: Annotated[StaffTransition, Path()], session: Session,
                       deps: Deps, staff: KnownStaff, body: commands.Move | None = None) -> views.BookingView:
    await handlers.move_booking(session, deps, tenant_id, booking_id, name, body, actor=staff.actor)
    return await views.booking(session, tenant_id, booking_id)


@router.post("/bookings/{booking_id}/reschedule", summary="New start, estimate, technician, order in the day (B7)")
async def reschedule(tenant_id: TenantId, booking_id: uuid.UUID, body: commands.Reschedule, session: Session, deps: Deps,
                     staff: Planner) -> views.BookingView:
    await handlers.reschedule(session, deps, tenant_id, booking_id, body, actor=staff.actor)
    return await views.booking(session, tenant_id, booking_id)


@router.post("/bookings/{booking_id}/hold", summary="Put on hold until about a date (B7)")
async def hold(tenant_id: TenantId, booking_id: uuid.UUID, body: commands.PutOnHold, session: Session, deps: Deps,
               staff: Planner) -> views.BookingView:
    await handlers.put_on_hold(session, deps, tenant_id, booking_id, body, actor=staff.actor)
    return await views.booking(session, tenant_id, booking_id)


@router.get("/bookings/{booking_id}/messages", summary="The booking's communication log, from the notification service (A6)",
            responses={502: {**PROBLEM_RESPONSES[503], "description": "The notification service did not answer"}})
async def communication_log(tenant_id: TenantId, booking_id: uuid.UUID, request: Request, session: Session,
                            staff: KnownStaff) -> list[views.LoggedMessage]:
    return await views.communication_log(session, request.app.state.settings.notification_url, request.headers["authorization"],
                                         tenant_id, booking_id)


# --- flow B: locking and letters -------------------------------------------------------------


@router.post("/orders/lock", summary="Lock orders: booking codes, ready for print (B1)")
async def lock_orders(tenant_id: TenantId, body: commands.SelectOrders, session: Session, deps: Deps, staff: Planner) -> handlers.Locked:
    return await handlers.lock_orders(session, deps, tenant_id, body, actor=staff.actor)


@router.post("/orders/letters", summary="Letters (or booking SMS) for orders ready for print (B2)")
async def send_letters(tenant_id: TenantId, body: commands.SendBookingRequests, session: Session, deps: Deps,
                       staff: Planner) -> handlers.Sent:
    return await handlers.send_booking_requests(session, deps, tenant_id, body, actor=staff.actor)


@router.get("/replies/unmatched", summary="Replies whose code matched no order, kept for the planner (B3)")
async def unmatched_replies(tenant_id: TenantId, session: Session, staff: KnownStaff) -> list[views.ReplyView]:
    return await views.unmatched_replies(session, tenant_id)


# --- technicians, slots, work lists ----------------------------------------------------------


@router.post("/technicians", status_code=201, summary="Add a technician")
async def add_technician(tenant_id: TenantId, body: commands.AddTechnician, session: Session, deps: Deps, staff: KnownStaff,
                         idempotency_key: IdempotencyKey = None) -> views.Technician:
    technician_id = await handlers.add_technician(session, deps, tenant_id, body, idempotency_key=idempotency_key)
    return await views.technician(session, tenant_id, technician_id)


@router.get("/technicians", summary="The tenant's technicians")
async def technicians(tenant_id: TenantId, session: Session, staff: KnownStaff) -> list[views.Technician]:
    return await views.technicians_of(session, tenant_id)


@router.get("/technicians/{technician_id}/work-list", summary="A technician's day (A5, B8)")
async def work_list(tenant_id: TenantId, technician_id: uuid.UUID, day: Day, session: Session, staff: KnownStaff) -> list[views.BookingSummary]:
    """Only bookings the customer confirmed or that are ready for execution, in booking order."""
    return await views.work_list(session, tenant_id, technician_id, day)


@router.post("/slots", status_code=201, summary="Open a bookable slot")
async def add_slot(tenant_id: TenantId, body: commands.OpenSlot, session: Session, deps: Deps, staff: KnownStaff,
                   idempotency_key: IdempotencyKey = None) -> views.SlotView:
    slot_id = await handlers.open_slot(session, deps, tenant_id, body, idempotency_key=idempotency_key)
    return await views.slot(session, tenant_id, slot_id)


@router.get("/slots", summary="Free slots from now on")
async def free_slots(tenant_id: TenantId, session: Session, deps: Deps, staff: KnownStaff,
                     service: Annotated[Line(100) | None, Query()] = None) -> list[views.SlotView]:
    return await views.free_slots(session, tenant_id, service=service, after=deps.clock())


@router.get("/freed-slots", summary="Slots freed by releases, rebookings and cancellations (A4, A6)")
async def freed_slots(tenant_id: TenantId, session: Session, staff: KnownStaff,
                      reason: views.FreedReason | None = None) -> list[views.FreedSlot]:
    return await views.freed_slots_of(session, tenant_id, reason)
