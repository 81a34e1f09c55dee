"""Book-again reminders for staff (D1, D3): set one from a booking, see a booking's or a
customer's reminders with their history, remove one."""
from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from bookflow_recall.api import Dependencies, TenantId
from bookflow_recall.domain.calendar import Unit
from bookflow_recall.handlers import book_again
from bookflow_recall.views import BookAgainCard
from bookflow_runtime.auth import StaffOfTenant
from bookflow_runtime.http import Session

router = APIRouter(prefix="/tenants/{tenant_id}", tags=["book-again"])


class ReminderIn(BaseModel):
    """D1: "remind the customer to book again after N days, weeks or months", counted from today."""

    model_config = ConfigDict(extra="forbid")
    after: Annotated[int, Field(ge=1, le=366, description="How many units from today.")]
    unit: Unit = Field(description="days, weeks or months.")


@router.post("/bookings/{booking_id}/book-again", status_code=201, summary="Remind the booking's customer to book again (D1)")
async def set_reminder(tenant_id: TenantId, booking_id: uuid.UUID, body: ReminderIn, staff: StaffOfTenant, session: Session,
                       deps: Dependencies) -> BookAgainCard:
    return await book_again.set_reminder(session, deps, staff, tenant_id, booking_id, body.after, body.unit)


@router.get("/bookings/{booking_id}/book-again", summary="The book-again reminders of the booking's customer (D3)")
async def booking_reminders(tenant_id: TenantId, booking_id: uuid.UUID, staff: StaffOfTenant, session: Session) -> BookAgainCard:
    return await book_again.card_of_booking(session, tenant_id, booking_id)


@router.get("/customers/{customer_id}/book-again", summary="The customer's book-again reminders and their history (D3)")
async def customer_reminders(tenant_id: TenantId, customer_id: uuid.UUID, staff: StaffOfTenant, session: Session) -> BookAgainCard:
    return await book_again.card(session, tenant_id, customer_id)


@router.delete("/book-again/{reminder_id}", summary="Remove a reminder before it is sent")
async def remove_reminder(tenant_id: TenantId, reminder_id: uuid.UUID, staff: StaffOfTenant, session: Session,
                          deps: Dependencies) -> BookAgainCard:
    return await book_again.remove_reminder(session, deps, staff, tenant_id, reminder_id)
