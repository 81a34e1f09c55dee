"""What staff ask the booking service to do, as typed commands: the bodies of the staff API's
writes, which handlers take as they are. Every text, number, date and duration is bounded
(`bookflow_runtime.inputs`), so a bad value is a clear 422 and never reaches the database."""
from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from bookflow_contracts import Address
from bookflow_contracts.parts import Language
from bookflow_runtime.inputs import Day, Duration, Email, Instant, Line, Paragraph, Phone

Service = Annotated[Line(100, min_length=1), Field(description="The service, such as `mätarbyte`.")]
Reason = Annotated[Paragraph(500) | None, Field(description="Why, in words, for the booking's history.")]
Sequence = Annotated[int, Field(ge=0, le=10_000, description="Order within the technician's day.")]
MAX_ORDERS = 1000


class Command(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CustomerIn(Command):
    name: Line(200, min_length=1)
    phone: Annotated[Phone, Field(pattern=r"^\+[1-9]\d{6,14}$", description="E.164, such as +46701234567.")] | None = None
    email: Email | None = None
    language: Language | None = None


class PlaceIn(Command):
    """Where the visit takes place."""

    street: Line(200) | None = Field(None, description="Street and number.")
    postcode: Line(20) | None = None
    city: Line(100) | None = None

    def address(self) -> Address:
        return Address(street=self.street or None, postcode=self.postcode or None, city=self.city or None)


class Timing(Command):
    """A start and either an end or an estimate."""

    starts_at: Instant | None = None
    ends_at: Instant | None = None
    estimate: Duration(timedelta(days=31)) | None = Field(None, description="ISO 8601 duration such as PT1H, instead of `ends_at`.")

    @model_validator(mode="after")
    def _end_or_estimate(self):
        if self.ends_at is not None and self.estimate is not None:
            raise ValueError("give ends_at or estimate, not both")
        if self.starts_at is not None and self.ends_at is None and self.estimate is not None:
            self.ends_at = self.starts_at + self.estimate
        return self


class CreateBooking(Timing):
    customer: CustomerIn
    service: Service
    place: PlaceIn | None = None
    technician_id: uuid.UUID | None = None
    sequence: Sequence | None = None
    slot_id: uuid.UUID | None = Field(None, description="A free slot to book; its time and technician are used.")
    reminder_at: Instant | None = Field(None, description="When to be reminded (handed back by the scheduler).")
    record_only: bool = Field(False, description="Record a visit that already took place: stored as completed, "
                                                 "nothing is sent to the customer and no timer is set.")


class EditBooking(Command):
    customer: CustomerIn | None = None
    place: PlaceIn | None = None
    service: Service | None = None


class Move(Command):
    reason: Reason = None


class Reschedule(Timing):
    technician_id: uuid.UUID | None = None
    sequence: Sequence | None = None
    reason: Reason = None


class PutOnHold(Command):
    back_around: Day = Field(description="About when the customer is back.")
    technician_id: uuid.UUID | None = Field(None, description="Another technician, or none (unassigned).")
    reason: Reason = None


class SelectOrders(Command):
    """Orders by id, or all of one technician's orders on one day (in the tenant's zone)."""

    booking_ids: list[uuid.UUID] | None = Field(None, max_length=MAX_ORDERS)
    technician_id: uuid.UUID | None = None
    day: Day | None = None

    @model_validator(mode="after")
    def _one_selection(self):
        if (self.booking_ids is None) == (self.technician_id is None or self.day is None):
            raise ValueError("give booking_ids, or technician_id and day")
        return self


class SendBookingRequests(Command):
    booking_ids: list[uuid.UUID] | None = Field(None, max_length=MAX_ORDERS, description="These orders; all ready for print when left out.")
    by: Literal["letter", "sms"] = Field("letter", description="A letter (PDF in the letter folder) or a booking SMS.")


class AddTechnician(Command):
    name: Line(200, min_length=1)


class OpenSlot(Command):
    technician_id: uuid.UUID | None = None
    service: Service
    starts_at: Instant
    ends_at: Instant
