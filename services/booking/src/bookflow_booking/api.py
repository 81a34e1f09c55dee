"""The staff API, every route under `/tenants/{tenant_id}` and only for that tenant's staff:
customers and their cards, the service catalog, bookings and work orders, their actions, lists
by state, technicians, slots, freed slots, the technician's work list, replies no order matched,
and each booking's communication log.

Each route is one handler call (writes, answering with the one read of what was written) or one
read query (reads); the transaction comes from `Session`."""
from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Request

from bookflow_booking import commands, domain, handlers, views
from bookflow_booking.dependencies import (Deps, Desk, IdempotencyKey, KnownStaff, Planner, TenantId, TransitionStaff,
                                           staff_of_known_tenant)
from bookflow_contracts import CatalogService
from bookflow_runtime.http import PROBLEM_RESPONSES, Session
from bookflow_runtime.inputs import Day, Email, Line, Phone

router = APIRouter(prefix="/tenants/{tenant_id}", tags=["staff"], dependencies=[Depends(staff_of_known_tenant)])
State = Literal[domain.STATES]  # type: ignore[valid-type]

STAFF_TRANSITIONS = ("confirm", "cancel", "follow-up-manually", "send-to-execution", "confirm-by-sms", "resume", "complete",
                     "no-show", "delete")
"""Moves staff make with nothing but a reason; rescheduling and holding have their own routes."""
StaffTransition = Literal[STAFF_TRANSITIONS]  # type: ignore[valid-type]
ServiceKey = Annotated[str, Path(pattern=r"^[A-Za-z0-9À-ɏ][A-Za-z0-9À-ɏ._-]{0,99}$",
                                 description="The service's key, as bookings name it, such as `oil-change`.")]


# --- customers -------------------------------------------------------------------------------


@router.post("/customers", status_code=201, summary="Add a customer")
async def create_customer(tenant_id: TenantId, body: commands.CustomerIn, session: Session, deps: Deps, staff: Desk,
                          idempotency_key: IdempotencyKey = None) -> views.CustomerCard:
    """The phone number is stored in E.164 form (national numbers read in the tenant's country).
    Announced as `customer.updated` (no changed fields: a new customer)."""
    customer_id = await handlers.create_customer(session, deps, tenant_id, body, actor=staff.actor, idempotency_key=idempotency_key)
    return await views.customer_card(session, tenant_id, customer_id)


@router.get("/customers", summary="Find customers by name, phone, e-mail or customer number")
async def find_customers(
    tenant_id: TenantId, session: Session, staff: Desk,
    name: Annotated[Line(200) | None, Query(description="Part of the name, any case.")] = None,
    phone: Annotated[Phone | None, Query(description="The phone number, E.164 or as written in the tenant's country.")] = None,
    email: Annotated[Email | None, Query()] = None,
    customer_number: Annotated[Line(64) | None, Query()] = None,
) -> list[views.CustomerSummary]:
    return await views.find_customers(session, tenant_id, name=name, phone=phone, email=email, customer_number=customer_number)


@router.get("/customers/{customer_id}", summary="The customer card: details, consent, bookings, communication log")
async def customer_card(tenant_id: TenantId, customer_id: uuid.UUID, session: Session, staff: Desk,
                        include_deleted: bool = False) -> views.CustomerCard:
    return await views.customer_card(session, tenant_id, customer_id, include_deleted=include_deleted)


@router.patch("/customers/{customer_id}", summary="Change a customer's details, language, preferred channel or consent")
async def edit_customer(tenant_id: TenantId, customer_id: uuid.UUID, body: commands.EditCustomer, session: Session, deps: Deps,
                        staff: Desk) -> views.CustomerCard:
    """Fields left out stay as they are; `null` clears one. Every change is published as
    `customer.updated` naming the fields that changed; consent is recorded with when and `staff`."""
    await handlers.edit_customer(session, deps, tenant_id, customer_id, body, actor=staff.actor)
    return await views.customer_card(session, tenant_id, customer_id)


# --- the service catalog ---------------------------------------------------------------------


@router.get("/catalog", summary="The tenant's service catalog")
async def catalog(tenant_id: TenantId, session: Session, staff: KnownStaff) -> list[CatalogService]:
    return await views.catalog(session, tenant_id)


@router.put("/catalog/{service}", summary="Add or change a service of the catalog (administrators, planners)")
async def put_catalog_service(tenant_id: TenantId, service: ServiceKey, body: commands.CatalogServiceIn, session: Session,
                              staff: Planner) -> CatalogService:
    """The whole catalog is published as `catalog.updated` on every change."""
    return await handlers.save_catalog_service(session, tenant_id, service, body)


@router.delete("/catalog/{service}", status_code=204, summary="Take a service out of the catalog (administrators, planners)")
async def delete_catalog_service(tenant_id: TenantId, service: ServiceKey, session: Session, staff: Planner) -> None:
    await handlers.remove_catalog_service(session, tenant_id, service)


# --- bookings --------------------------------------------------------------------------------


@router.post("/bookings", status_code=201, summary="Create a booking or work order")
async def create_booking(tenant_id: TenantId, body: commands.CreateBooking, session: Session, deps: Deps, staff: Desk,
                         idempotency_key: IdempotencyKey = None) -> views.BookingView:
    """A booking must start in the future; `record_only` records a visit that took place, and
    sends nothing. With an `Idempotency-Key`, a retry gives the booking made the first time."""
    booking_id = await handlers.create_booking(session, deps, tenant_id, body, idempotency_key=idempotency_key, actor=staff.actor)
    return await views.booking(session, tenant_id, booking_id)


@router.get("/bookings", summary="Bookings by state, technician, service and day")
async def list_bookings(
    tenant_id: TenantId, session: Session, staff: Desk,
    state: Annotated[list[State] | None, Query(description="Such as unconfirmed, ready-for-print, manual-follow-up.")] = None,
    technician_id: uuid.UUID | None = None, service: Annotated[Line(100) | None, Query()] = None,
    day: Annotated[Day | None, Query(description="Starting on this day in the tenant's zone.")] = None,
    customer_id: uuid.UUID | None = None,
    include_deleted: Annotated[bool, Query(description="Also deleted bookings (always when `state` names `deleted`).")] = False,
) -> list[views.BookingSummary]:
    return await views.bookings_of(session, tenant_id, states=tuple(state or ()), technician_id=technician_id, service=service, day=day,
                                   customer_id=customer_id, include_deleted=include_deleted)


@router.get("/bookings/{booking_id}", summary="One booking: state, history, replies, reminders")
async def get_booking(tenant_id: TenantId, booking_id: uuid.UUID, session: Session, staff: KnownStaff) -> views.BookingView:
    """A technician opens only the bookings of a work list (A5)."""
    return await views.booking_seen_by(session, tenant_id, booking_id, desk=staff.has(*domain.DESK))


@router.patch("/bookings/{booking_id}", summary="Edit a booking's customer, place, service, work, subject or extra information")
async def edit_booking(tenant_id: TenantId, booking_id: uuid.UUID, body: commands.EditBooking, session: Session, deps: Deps,
                       staff: Desk) -> views.BookingView:
    await handlers.edit_booking(session, deps, tenant_id, booking_id, body, actor=staff.actor)
    return await views.booking(session, tenant_id, booking_id)


@router.post("/bookings/{booking_id}/transitions/{name}", summary="Confirm, cancel, complete, no-show, delete, follow up…")
async def move_booking(tenant_id: TenantId, booking_id: uuid.UUID, name: Annotated[StaffTransition, Path()], session: Session,
                       deps: Deps, staff: TransitionStaff, body: commands.Move | None = None) -> views.BookingView:
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


@router.get("/bookings/{booking_id}/messages", summary="The booking's messages: channel, status, times, cost (A6, X4)")
async def communication_log(tenant_id: TenantId, booking_id: uuid.UUID, session: Session, staff: Desk) -> list[views.LoggedMessage]:
    """From the booking service's own projection of `notification.status`."""
    return await views.communication_log(session, tenant_id, booking_id)


@router.get("/bookings/{booking_id}/communication-log", summary="The booking's messages and what the customer did about it elsewhere")
async def booking_log(tenant_id: TenantId, booking_id: uuid.UUID, session: Session, staff: Desk) -> list[views.LogEntry]:
    return await views.booking_log(session, tenant_id, booking_id)


# --- flow B: locking and letters -------------------------------------------------------------


@router.post("/orders/lock", summary="Lock orders: booking codes, ready for print (B1)")
async def lock_orders(tenant_id: TenantId, body: commands.SelectOrders, session: Session, deps: Deps, staff: Planner) -> handlers.Locked:
    return await handlers.lock_orders(session, deps, tenant_id, body, actor=staff.actor)


@router.post("/orders/letters", summary="Letters (or booking SMS) for orders ready for print (B2)")
async def send_letters(tenant_id: TenantId, body: commands.SendBookingRequests, session: Session, deps: Deps,
                       staff: Planner) -> handlers.Sent:
    return await handlers.send_booking_requests(session, deps, tenant_id, body, actor=staff.actor)


@router.get("/replies/unmatched", summary="Replies whose code matched no order, kept for the planner (B3)")
async def unmatched_replies(tenant_id: TenantId, session: Session, staff: Planner) -> list[views.ReplyView]:
    return await views.unmatched_replies(session, tenant_id)


# --- technicians, slots, work lists ----------------------------------------------------------


@router.post("/technicians", status_code=201, summary="Add a technician (planners)")
async def add_technician(tenant_id: TenantId, body: commands.AddTechnician, session: Session, deps: Deps, staff: Planner,
                         idempotency_key: IdempotencyKey = None) -> views.Technician:
    technician_id = await handlers.add_technician(session, deps, tenant_id, body, idempotency_key=idempotency_key)
    return await views.technician(session, tenant_id, technician_id)


@router.get("/technicians", summary="The tenant's technicians")
async def technicians(tenant_id: TenantId, session: Session, staff: KnownStaff) -> list[views.Technician]:
    return await views.technicians_of(session, tenant_id)


@router.get("/technicians/{technician_id}/work-list", summary="A technician's day (A5, B8)")
async def work_list(tenant_id: TenantId, technician_id: uuid.UUID, day: Day, request: Request, session: Session,
                    staff: KnownStaff) -> list[views.WorkListEntry]:
    """Only bookings the customer confirmed or that are ready for execution, starting on `day`
    in the tenant's zone, in booking order; with the comments shared with mechanics (C6)."""
    return await views.work_list(session, tenant_id, technician_id, day, request.app.state.settings.checkin_public_url)


@router.post("/slots", status_code=201, summary="Open a bookable slot")
async def add_slot(tenant_id: TenantId, body: commands.OpenSlot, session: Session, deps: Deps, staff: Desk,
                   idempotency_key: IdempotencyKey = None) -> views.SlotView:
    slot_id = await handlers.open_slot(session, deps, tenant_id, body, idempotency_key=idempotency_key)
    return await views.slot(session, tenant_id, slot_id)


@router.get("/slots", summary="Free slots from now on")
async def free_slots(tenant_id: TenantId, session: Session, deps: Deps, staff: Desk,
                     service: Annotated[Line(100) | None, Query()] = None) -> list[views.SlotView]:
    return await views.free_slots(session, tenant_id, service=service, after=deps.clock())


@router.get("/freed-slots", summary="Slots freed by releases, rebookings and cancellations (A4, A6)")
async def freed_slots(tenant_id: TenantId, session: Session, staff: Desk,
                      reason: views.FreedReason | None = None) -> list[views.FreedSlot]:
    return await views.freed_slots_of(session, tenant_id, reason)
