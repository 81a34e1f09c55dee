"""What staff ask the booking service to do, as typed commands: the bodies of the staff API's
writes, which handlers take as they are. Every text, number, date and duration is bounded
(`bookflow_runtime.inputs`), so a bad value is a clear 422 and never reaches the database."""
from __future__ import annotations

import uuid
from datetime import timedelta
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from bookflow_contracts import Address, Channel, Subject, WorkLine
from bookflow_contracts.parts import Language
from bookflow_runtime.inputs import Day, Duration, Email, Instant, Line, Paragraph, Phone

Service = Annotated[Line(100, min_length=1), Field(description="The service, such as `mätarbyte`.")]
Reason = Annotated[Paragraph(500) | None, Field(description="Why, in words, for the booking's history.")]
Sequence = Annotated[int, Field(ge=0, le=10_000, description="Order within the technician's day.")]
MAX_ORDERS = 1000


class Command(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PlaceIn(Command):
    """Where the visit takes place, or a customer's postal address."""

    street: Line(200) | None = Field(None, description="Street and number.")
    postcode: Line(20) | None = None
    city: Line(100) | None = None

    def address(self) -> Address:
        return Address(street=self.street or None, postcode=self.postcode or None, city=self.city or None)


PhoneIn = Annotated[Phone, Field(pattern=r"^\+?[0-9][0-9 ()./-]{4,30}$",
                                 description="A mobile number, E.164 (+46701234567) or as written in the tenant's country "
                                             "(070-123 45 67); stored in E.164 form.")]
CustomerNumber = Annotated[Line(64, min_length=1), Field(description="The business's own number for the customer.")]


class CustomerIn(Command):
    """A customer's details. With a `customer_number` the tenant already has, a booking reuses that customer."""

    name: Line(200, min_length=1)
    phone: PhoneIn | None = None
    email: Email | None = None
    language: Language | None = None
    preferred_channel: Channel | None = Field(None, description="The channel the customer prefers (X3); the others are fallbacks.")
    address: PlaceIn | None = Field(None, description="Postal address, for letters.")
    customer_number: CustomerNumber | None = None
    marketing_consent: bool | None = Field(None, description="Consent to book-again and recall messages, as the customer gave it to staff.")


class EditCustomer(Command):
    """What changes; a field left out stays as it is, `null` clears it (not the name)."""

    name: Line(200, min_length=1) | None = None
    phone: PhoneIn | None = None
    email: Email | None = None
    language: Language | None = None
    preferred_channel: Channel | None = None
    address: PlaceIn | None = None
    customer_number: CustomerNumber | None = None
    marketing_consent: bool | None = Field(None, description="true: consent given; false: withdrawn (recorded with when, and `staff`).")


class WorkLineIn(Command):
    """A line of planned work; what the catalog knows about the service fills what is left out."""

    service: Line(100, min_length=1)
    description: Line(500) | None = None
    remark: Paragraph(1000) | None = None
    price_incl_vat: Annotated[Decimal, Field(ge=0, max_digits=12, decimal_places=2)] | None = Field(None, description="Price including VAT.")
    vat_rate: Annotated[Decimal, Field(ge=0, le=1, max_digits=5, decimal_places=4)] | None = Field(None, description="Such as 0.25.")
    article_number: Line(64) | None = None

    def line(self) -> WorkLine:
        return WorkLine(line_id=uuid.uuid4(), **self.model_dump())


class SubjectIn(Command):
    """What the work is on: `{"kind": "vehicle", "details": {"registration": "ABC123", "make": "Volvo"}}`."""

    kind: Line(40, min_length=1)
    details: Annotated[dict[Line(60, min_length=1), Line(200)], Field(max_length=20)] = Field(default_factory=dict)

    def subject(self) -> Subject:
        return Subject(kind=self.kind, details=self.details)


ExtraInfo = Annotated[Paragraph(2000), Field(description="Extra information printed on the notice (A1).")]


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
    """A booking for a customer the tenant has (`customer_id`), or for `customer` given inline
    (a new customer, or the one with the same `customer_number`)."""

    customer: CustomerIn | None = None
    customer_id: uuid.UUID | None = None
    service: Service
    place: PlaceIn | None = None
    technician_id: uuid.UUID | None = None
    sequence: Sequence | None = None
    slot_id: uuid.UUID | None = Field(None, description="A free slot to book; its time and technician are used.")
    reminder_at: Instant | None = Field(None, description="When to be reminded (handed back by the scheduler).")
    record_only: bool = Field(False, description="Record a visit that already took place: stored as completed, "
                                                 "nothing is sent to the customer and no timer is set.")
    work_lines: list[WorkLineIn] = Field(default_factory=list, max_length=100, description="The planned work.")
    subject: SubjectIn | None = None
    extra_info: ExtraInfo | None = None

    @model_validator(mode="after")
    def _one_customer(self):
        if (self.customer is None) == (self.customer_id is None):
            raise ValueError("give customer_id, or the customer's details as customer")
        return self


class EditBooking(Command):
    """Corrections; `customer` edits the booking's customer (the same record all their bookings share)."""

    customer: EditCustomer | None = None
    place: PlaceIn | None = None
    service: Service | None = None
    work_lines: list[WorkLineIn] | None = Field(None, max_length=100, description="Replaces the planned work.")
    subject: SubjectIn | None = None
    extra_info: ExtraInfo | None = None


class Move(Command):
    reason: Reason = None


class Reschedule(Timing):
    technician_id: uuid.UUID | None = Field(None, description="Another technician; `null` unassigns; left out keeps the technician.")
    sequence: Sequence | None = Field(None, description="Place in the technician's day; orders at and after it move down "
                                                        "one where they would collide. Left out: last of that day.")
    reason: Reason = None


class PutOnHold(Command):
    back_around: Day = Field(description="About when the customer is back.")
    technician_id: uuid.UUID | None = Field(None, description="Another technician; `null` unassigns; left out keeps the technician.")
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


class CatalogServiceIn(Command):
    """One service of the tenant's catalog (C2, D2, E5)."""

    name: Line(200, min_length=1) = Field(description="What customers read.")
    duration_minutes: int = Field(ge=1, le=24 * 60 * 14, description="How long it usually takes.")
    price_incl_vat: Annotated[Decimal, Field(ge=0, max_digits=12, decimal_places=2)] | None = None
    vat_rate: Annotated[Decimal, Field(ge=0, le=1, max_digits=5, decimal_places=4)] | None = Field(None, description="Such as 0.25.")
    article_numbers: list[Line(64, min_length=1)] = Field(default_factory=list, max_length=50, description="The till's article numbers (E5).")
    description: Paragraph(2000) | None = None
    link: Annotated[Line(500), Field(pattern=r"^https?://\S+$")] | None = Field(None, description="A page about it (http or https).")
    offered_at_checkin: bool = Field(False, description="Offered as an optional service on the check-in page (C2).")
    bookable_online: bool = Field(True, description="Customers may book it online (D2).")
