"""The booking service's HTTP API (staff side)."""
from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Path
from pydantic import AwareDatetime, BaseModel, ConfigDict, EmailStr, Field

from bookflow_booking import domain, handlers, storage
from bookflow_contracts import Address
from bookflow_runtime.errors import BookflowError, NotFound
from bookflow_runtime.service import ServiceRuntime, runtime_of

router = APIRouter(prefix="/tenants/{tenant_id}", tags=["bookings"])
Runtime = Annotated[ServiceRuntime, Depends(runtime_of)]
TenantId = Annotated[str, Path(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$", description="The tenant's id.")]


class CustomerIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200)
    phone: str | None = Field(None, pattern=r"^\+[1-9]\d{6,14}$", description="E.164, such as +46701234567.")
    email: EmailStr | None = None
    language: str | None = Field(None, pattern=r"^(sv|nb|da|nl|en)$")


class BookingIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    customer: CustomerIn
    service: str = Field(min_length=1, max_length=100)
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    place: Address | None = None
    reminder_at: AwareDatetime | None = Field(None, description="When to be reminded (handed back by the scheduler).")


class BookingOut(BaseModel):
    id: uuid.UUID
    state: str
    service: str
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    customer_name: str
    reminders_received: list[dict] = []


class InvalidRequest(BookflowError):
    status = 422
    code = "invalid-booking"


@router.post("/bookings", status_code=201, response_model=BookingOut, summary="Create a booking")
async def create_booking(tenant_id: TenantId, body: BookingIn, runtime: Runtime) -> BookingOut:
    customer = domain.Customer(uuid.uuid4(), body.customer.name, body.customer.phone, body.customer.email, body.customer.language)
    try:
        async with runtime.db.transaction() as session:
            booking = await handlers.create_booking(
                session, tenant_id, customer, body.service, body.starts_at, body.ends_at, body.place, body.reminder_at
            )
    except domain.InvalidBooking as exc:
        raise InvalidRequest(str(exc)) from exc
    return BookingOut(
        id=booking.id, state=booking.state, service=booking.service, starts_at=booking.starts_at,
        ends_at=booking.ends_at, customer_name=customer.name,
    )


@router.get("/bookings/{booking_id}", response_model=BookingOut, summary="One booking with the reminders it received")
async def get_booking(tenant_id: TenantId, booking_id: uuid.UUID, runtime: Runtime) -> BookingOut:
    async with runtime.db.transaction() as session:
        row = await storage.booking_view(session, tenant_id, booking_id)
        if row is None:
            raise NotFound(f"no booking {booking_id}")
        reminders = await storage.reminders_of(session, booking_id)
    return BookingOut(
        id=row["id"], state=row["state"], service=row["service"], starts_at=row["starts_at"],
        ends_at=row["ends_at"], customer_name=row["name"], reminders_received=reminders,
    )
