"""The staff API, every route under `/tenants/{tenant_id}` and only for that tenant's staff:
bookings and work orders, their actions, lists by state, technicians, slots, freed slots, the
technician's work list, replies no order matched, and each booking's communication log."""
from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import date, timedelta
from typing import Annotated, Literal

import httpx
from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import AwareDatetime, BaseModel, ConfigDict, EmailStr, Field, model_validator

from bookflow_booking import domain, handlers, storage
from bookflow_contracts import Address
from bookflow_runtime.auth import StaffOfTenant, staff_of_tenant
from bookflow_runtime.errors import BookflowError, NotFound
from bookflow_runtime.http import runtime_of
from bookflow_runtime.runtime import ServiceRuntime

router = APIRouter(prefix="/tenants/{tenant_id}", tags=["staff"], dependencies=[Depends(staff_of_tenant)])
Runtime = Annotated[ServiceRuntime, Depends(runtime_of)]
TenantId = Annotated[str, Path(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$", description="The tenant's id.")]
State = Literal[domain.STATES]  # type: ignore[valid-type]

STAFF_TRANSITIONS = ("confirm", "cancel", "follow-up-manually", "send-to-execution", "confirm-by-sms", "resume")
"""Moves staff make with nothing but a reason; rescheduling and holding have their own routes."""


def deps_of(request: Request) -> handlers.Deps:
    return request.app.state.deps


Deps = Annotated[handlers.Deps, Depends(deps_of)]


class NotificationServiceUnavailable(BookflowError):
    status = 502
    code = "notification-service-unavailable"


# --- request and response bodies -------------------------------------------------------------


class CustomerIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200)
    phone: str | None = Field(None, pattern=r"^\+[1-9]\d{6,14}$", description="E.164, such as +46701234567.")
    email: EmailStr | None = None
    language: str | None = Field(None, pattern=r"^(sv|nb|da|nl|en)$")


class Timing(BaseModel):
    """A start and either an end or an estimate."""

    model_config = ConfigDict(extra="forbid")
    starts_at: AwareDatetime | None = None
    ends_at: AwareDatetime | None = None
    estimate: timedelta | None = Field(None, description="ISO 8601 duration such as PT1H, instead of `ends_at`.")

    @model_validator(mode="after")
    def _end_or_estimate(self):
        if self.ends_at is not None and self.estimate is not None:
            raise ValueError("give ends_at or estimate, not both")
        if self.starts_at is not None and self.ends_at is None and self.estimate is not None:
            self.ends_at = self.starts_at + self.estimate
        return self


class BookingIn(Timing):
    customer: CustomerIn
    service: str = Field(min_length=1, max_length=100)
    place: Address | None = None
    technician_id: uuid.UUID | None = None
    sequence: int | None = Field(None, ge=0, description="Order within the technician's day.")
    slot_id: uuid.UUID | None = Field(None, description="A free slot to book; its time and technician are used.")
    reminder_at: AwareDatetime | None = Field(None, description="When to be reminded (handed back by the scheduler).")


class BookingEdit(BaseModel):
    model_config = ConfigDict(extra="forbid")
    customer: CustomerIn | None = None
    place: Address | None = None
    service: str | None = Field(None, min_length=1, max_length=100)


class TransitionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str | None = Field(None, max_length=500)


class RescheduleIn(Timing):
    technician_id: uuid.UUID | None = None
    sequence: int | None = Field(None, ge=0)
    reason: str | None = Field(None, max_length=500)


class HoldIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    back_around: date = Field(description="About when the customer is back.")
    technician_id: uuid.UUID | None = Field(None, description="Another technician, or none (unassigned).")
    reason: str | None = Field(None, max_length=500)


class OrdersIn(BaseModel):
    """Orders by id, or all of one technician's orders on one day (in the tenant's zone)."""

    model_config = ConfigDict(extra="forbid")
    booking_ids: list[uuid.UUID] | None = Field(None, max_length=1000)
    technician_id: uuid.UUID | None = None
    day: date | None = None

    @model_validator(mode="after")
    def _one_selection(self):
        if (self.booking_ids is None) == (self.technician_id is None or self.day is None):
            raise ValueError("give booking_ids, or technician_id and day")
        return self


class LettersIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    booking_ids: list[uuid.UUID] | None = Field(None, max_length=1000, description="These orders; all ready for print when left out.")
    by: Literal["letter", "sms"] = Field("letter", description="A letter (PDF in the letter folder) or a booking SMS.")


class TechnicianIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200)


class SlotIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    technician_id: uuid.UUID | None = None
    service: str = Field(min_length=1, max_length=100)
    starts_at: AwareDatetime
    ends_at: AwareDatetime


class BookingOut(BaseModel):
    id: uuid.UUID
    state: str
    flow: str
    service: str
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    customer_name: str
    phone: str | None = None
    email: str | None = None
    place: Address | None = None
    technician_id: uuid.UUID | None = None
    sequence: int | None = None
    slot_id: uuid.UUID | None = None
    booking_code: str | None = None
    confirmed: bool = Field(description="Whether the customer (or staff on their word) confirmed the time.")
    state_reason: str | None = None
    hold_until: date | None = None
    rebooked_from: uuid.UUID | None = None
    rebooked_to: uuid.UUID | None = None
    reminders_received: list[dict] = []
    history: list[dict] = []
    replies: list[dict] = []


def booking_out(row: dict, **more) -> BookingOut:
    place = Address(street=row["street"], postcode=row["postcode"], city=row["city"]) if row["street"] or row["postcode"] or row["city"] else None
    return BookingOut(
        id=row["id"], state=row["state"], flow=row["flow"], service=row["service"], starts_at=row["starts_at"],
        ends_at=row["ends_at"], customer_name=row["name"], phone=row["phone"], email=row["email"], place=place,
        technician_id=row["technician_id"], sequence=row["sequence"], slot_id=row["slot_id"],
        booking_code=row["booking_code"], confirmed=row["state"] in domain.WORK_LIST_STATES,
        state_reason=row["state_reason"], hold_until=row["hold_until"], rebooked_from=row["rebooked_from"],
        rebooked_to=row["rebooked_to"], **more,
    )


async def _view(session, tenant_id: str, booking_id: uuid.UUID) -> BookingOut:
    row = await storage.booking_row(session, tenant_id, booking_id)
    if row is None:
        raise NotFound(f"no booking {booking_id}")
    return booking_out(
        row, reminders_received=await storage.reminders_of(session, booking_id),
        history=await storage.history_of(session, booking_id), replies=await storage.replies_of(session, tenant_id, booking_id),
    )


# --- bookings --------------------------------------------------------------------------------


@router.post("/bookings", status_code=201, response_model=BookingOut, summary="Create a booking or work order")
async def create_booking(tenant_id: TenantId, body: BookingIn, runtime: Runtime, deps: Deps, staff: StaffOfTenant) -> BookingOut:
    c = body.customer
    customer = domain.Customer(uuid.uuid4(), c.name, c.phone, c.email, c.language)
    async with runtime.db.transaction() as session:
        booking = await handlers.create_booking(
            session, deps, tenant_id, customer, body.service, body.starts_at, body.ends_at, body.place,
            technician_id=body.technician_id, slot_id=body.slot_id, sequence=body.sequence, reminder_at=body.reminder_at,
        )
        return await _view(session, tenant_id, booking.id)


@router.get("/bookings", response_model=list[BookingOut], summary="Bookings by state, technician, service and day")
async def list_bookings(
    tenant_id: TenantId, runtime: Runtime, staff: StaffOfTenant,
    state: Annotated[list[State] | None, Query(description="Such as unconfirmed, ready-for-print, manual-follow-up.")] = None,
    technician_id: uuid.UUID | None = None, service: str | None = None,
    day: Annotated[date | None, Query(description="Starting on this day in the tenant's zone.")] = None,
) -> list[BookingOut]:
    async with runtime.db.transaction() as session:
        bounds = domain.local_day_bounds(day, (await storage.tenant(session, tenant_id)).zone) if day else (None, None)
        rows = await storage.list_bookings(session, tenant_id, states=tuple(state or ()), technician_id=technician_id,
                                           service=service, starts_from=bounds[0], starts_before=bounds[1])
    return [booking_out(r) for r in rows]


@router.get("/bookings/{booking_id}", response_model=BookingOut, summary="One booking: state, history, replies, reminders")
async def get_booking(tenant_id: TenantId, booking_id: uuid.UUID, runtime: Runtime, staff: StaffOfTenant) -> BookingOut:
    async with runtime.db.transaction() as session:
        return await _view(session, tenant_id, booking_id)


@router.patch("/bookings/{booking_id}", response_model=BookingOut, summary="Edit a booking's customer, place or service")
async def edit_booking(tenant_id: TenantId, booking_id: uuid.UUID, body: BookingEdit, runtime: Runtime, staff: StaffOfTenant) -> BookingOut:
    async with runtime.db.transaction() as session:
        booking = await handlers.must_find(session, tenant_id, booking_id)
        if body.customer is not None:
            c = body.customer
            await storage.save_customer(session, domain.Customer(booking.customer.id, c.name, c.phone, c.email, c.language))
        changes = {k: v for k, v in (("place", body.place), ("service", body.service)) if v is not None}
        if changes:
            await storage.save_booking(session, replace(booking, **changes))
        return await _view(session, tenant_id, booking_id)


@router.post("/bookings/{booking_id}/transitions/{name}", response_model=BookingOut, summary="Confirm, cancel, follow up, send to execution…")
async def move_booking(
    tenant_id: TenantId, booking_id: uuid.UUID, name: Annotated[Literal[STAFF_TRANSITIONS], Path()],  # type: ignore[valid-type]
    runtime: Runtime, deps: Deps, staff: StaffOfTenant, body: TransitionIn | None = None,
) -> BookingOut:
    async with runtime.db.transaction() as session:
        booking = await handlers.must_find(session, tenant_id, booking_id)
        await handlers.transition(session, deps, booking, name, actor=f"staff:{staff.subject}", reason=body.reason if body else None)
        return await _view(session, tenant_id, booking_id)


@router.post("/bookings/{booking_id}/reschedule", response_model=BookingOut, summary="New start, estimate, technician, order in the day (B7)")
async def reschedule(tenant_id: TenantId, booking_id: uuid.UUID, body: RescheduleIn, runtime: Runtime, deps: Deps, staff: StaffOfTenant) -> BookingOut:
    if body.starts_at is None or body.ends_at is None:
        raise handlers.InvalidRequest("give starts_at and ends_at or estimate")
    async with runtime.db.transaction() as session:
        await handlers.reschedule(session, deps, tenant_id, booking_id, f"staff:{staff.subject}", starts_at=body.starts_at,
                                  ends_at=body.ends_at, technician_id=body.technician_id, sequence=body.sequence, reason=body.reason)
        return await _view(session, tenant_id, booking_id)


@router.post("/bookings/{booking_id}/hold", response_model=BookingOut, summary="Put on hold until about a date (B7)")
async def hold(tenant_id: TenantId, booking_id: uuid.UUID, body: HoldIn, runtime: Runtime, deps: Deps, staff: StaffOfTenant) -> BookingOut:
    async with runtime.db.transaction() as session:
        await handlers.put_on_hold(session, deps, tenant_id, booking_id, f"staff:{staff.subject}", back_around=body.back_around,
                                   technician_id=body.technician_id, reason=body.reason)
        return await _view(session, tenant_id, booking_id)


@router.get("/bookings/{booking_id}/messages", summary="The booking's communication log, from the notification service (A6)")
async def communication_log(tenant_id: TenantId, booking_id: uuid.UUID, request: Request, runtime: Runtime, staff: StaffOfTenant) -> list[dict]:
    async with runtime.db.transaction() as session:
        if not await storage.booking_exists(session, tenant_id, booking_id):
            raise NotFound(f"no booking {booking_id}")
    url = f"{runtime.settings.notification_url.rstrip('/')}/tenants/{tenant_id}/messages"
    try:
        async with httpx.AsyncClient(timeout=10) as client:
            response = await client.get(url, params={"booking_id": str(booking_id)},
                                        headers={"Authorization": request.headers["authorization"]})
        response.raise_for_status()
    except httpx.HTTPError as exc:
        raise NotificationServiceUnavailable(f"the notification service did not answer: {exc}") from exc
    return response.json()


# --- flow B: locking and letters -------------------------------------------------------------


async def _selected(session, tenant_id: str, body: OrdersIn) -> list[domain.Booking]:
    if body.booking_ids is not None:
        found = await storage.bookings_for_update(session, tenant_id, body.booking_ids)
        missing = set(body.booking_ids) - {b.id for b in found}
        if missing:
            raise NotFound(f"no booking {sorted(missing)[0]}")
        return found
    tenant = await storage.tenant(session, tenant_id)
    start, end = domain.local_day_bounds(body.day, tenant.zone)
    rows = await storage.list_bookings(session, tenant_id, states=(domain.PLANNED,), technician_id=body.technician_id,
                                       starts_from=start, starts_before=end)
    return await storage.bookings_for_update(session, tenant_id, [r["id"] for r in rows])


@router.post("/orders/lock", summary="Lock orders: booking codes, ready for print (B1)")
async def lock_orders(tenant_id: TenantId, body: OrdersIn, runtime: Runtime, deps: Deps, staff: StaffOfTenant) -> dict:
    async with runtime.db.transaction() as session:
        return await handlers.lock_orders(session, deps, tenant_id, await _selected(session, tenant_id, body), f"staff:{staff.subject}")


@router.post("/orders/letters", summary="Letters (or booking SMS) for orders ready for print (B2)")
async def send_letters(tenant_id: TenantId, body: LettersIn, runtime: Runtime, deps: Deps, staff: StaffOfTenant) -> dict:
    async with runtime.db.transaction() as session:
        if body.booking_ids is None:
            ids = [r["id"] for r in await storage.list_bookings(session, tenant_id, states=(domain.READY_FOR_PRINT,))]
            orders = await storage.bookings_for_update(session, tenant_id, ids)
        else:
            orders = await _selected(session, tenant_id, OrdersIn(booking_ids=body.booking_ids))
        return await handlers.send_booking_requests(session, deps, tenant_id, orders, f"staff:{staff.subject}", body.by)


@router.get("/replies/unmatched", summary="Replies whose code matched no order, kept for the planner (B3)")
async def unmatched_replies(tenant_id: TenantId, runtime: Runtime, staff: StaffOfTenant) -> list[dict]:
    async with runtime.db.transaction() as session:
        return await storage.replies_of(session, tenant_id, None)


# --- technicians, slots, work lists ----------------------------------------------------------


@router.post("/technicians", status_code=201, summary="Add a technician")
async def add_technician(tenant_id: TenantId, body: TechnicianIn, runtime: Runtime, staff: StaffOfTenant) -> dict:
    async with runtime.db.transaction() as session:
        return await storage.add_technician(session, tenant_id, body.name)


@router.get("/technicians", summary="The tenant's technicians")
async def technicians(tenant_id: TenantId, runtime: Runtime, staff: StaffOfTenant) -> list[dict]:
    async with runtime.db.transaction() as session:
        return await storage.technicians_of(session, tenant_id)


@router.get("/technicians/{technician_id}/work-list", response_model=list[BookingOut], summary="A technician's day (A5, B8)")
async def work_list(tenant_id: TenantId, technician_id: uuid.UUID, day: date, runtime: Runtime, staff: StaffOfTenant) -> list[BookingOut]:
    """Only bookings the customer confirmed or that are ready for execution, in booking order."""
    async with runtime.db.transaction() as session:
        if not await storage.technician_exists(session, tenant_id, technician_id):
            raise NotFound(f"no technician {technician_id}")
        start, end = domain.local_day_bounds(day, (await storage.tenant(session, tenant_id)).zone)
        rows = await storage.list_bookings(session, tenant_id, states=domain.WORK_LIST_STATES, technician_id=technician_id,
                                           starts_from=start, starts_before=end)
    return [booking_out(r) for r in rows]


@router.post("/slots", status_code=201, summary="Open a bookable slot")
async def add_slot(tenant_id: TenantId, body: SlotIn, runtime: Runtime, staff: StaffOfTenant) -> dict:
    if body.ends_at <= body.starts_at:
        raise handlers.InvalidRequest("the slot must end after it starts")
    async with runtime.db.transaction() as session:
        if body.technician_id is not None and not await storage.technician_exists(session, tenant_id, body.technician_id):
            raise NotFound(f"no technician {body.technician_id}")
        return await storage.add_slot(session, tenant_id, body.technician_id, body.service, body.starts_at, body.ends_at)


@router.get("/slots", summary="Free slots from now on")
async def free_slots(tenant_id: TenantId, runtime: Runtime, deps: Deps, staff: StaffOfTenant, service: str | None = None) -> list[dict]:
    async with runtime.db.transaction() as session:
        return await storage.free_slots(session, tenant_id, service=service, after=deps.clock())


@router.get("/freed-slots", summary="Slots freed by releases, rebookings and cancellations (A4, A6)")
async def freed_slots(tenant_id: TenantId, runtime: Runtime, staff: StaffOfTenant,
                      reason: Literal["released", "rebooked", "cancelled"] | None = None) -> list[dict]:
    async with runtime.db.transaction() as session:
        return await storage.freed_slots_of(session, tenant_id, reason)
