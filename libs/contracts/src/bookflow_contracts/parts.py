"""Parts shared by many messages: addresses, a customer's contact details, a booking as other
services keep it, work lines and what the work is on. Text fields carry the same limits as the
HTTP APIs that take them in, so a message a producer could not have been given is refused."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

Channel = Literal["sms", "email", "letter"]
BookingFlow = Literal["confirmation", "letter", "none"]
Language = Literal["sv", "nb", "da", "nl", "en"]
LANGUAGES: tuple[str, ...] = Language.__args__
"""The languages every customer text exists in."""

BookingSource = Literal["staff", "my-pages-rebook", "online-booking", "book-again", "recall-auto-book", "recall"]
"""Where a booking came from (D5: "via book-again reminder"; E4: recall auto-book, or the link in
a recall message to online booking: "recall")."""

BookingState = Literal[
    "unconfirmed",  # flow A: the notice went out, the customer has not confirmed
    "confirmed",  # flow A: the customer confirmed (on My pages, or staff on their word)
    "booked",  # flow "none": nothing to confirm
    "planned",  # flow B: a work order on a technician's calendar, not yet locked
    "ready-for-print",  # flow B: locked with a booking code, letter not yet generated
    "awaiting-response",  # flow B: letter or booking SMS sent, waiting for the customer's reply
    "ready-for-execution",  # flow B: the customer (or the planner) confirmed
    "manual-follow-up",  # flow B: a person must call the customer
    "on-hold",  # flow B: the customer is away until about a date
    "cancelled",  # any flow: cancelled, rebooked or released
    "completed",  # any flow: the visit took place
    "no-show",  # any flow: the customer did not come (or was not home)
    "deleted",  # any flow: removed by staff; kept, never shown as active
]
BOOKING_STATES: tuple[str, ...] = BookingState.__args__
WORK_LIST_STATES: tuple[str, ...] = ("confirmed", "ready-for-execution", "booked")
"""The states a technician's work list shows (A5, B8)."""
ENDED_STATES: tuple[str, ...] = ("cancelled", "completed", "no-show", "deleted")
"""States a booking does not leave: nothing more happens to it."""


class Part(BaseModel):
    """Base of the parts: frozen, and ignoring fields a later version adds."""

    model_config = ConfigDict(extra="ignore", frozen=True)


class Address(Part):
    """Where the visit takes place, or where a letter goes."""

    street: str | None = Field(None, max_length=200, description="Street and number.")
    postcode: str | None = Field(None, max_length=20, description="Postcode.")
    city: str | None = Field(None, max_length=100, description="Town or city.")


class CustomerSnapshot(Part):
    """A customer's contact details as they were when the message was written."""

    customer_id: uuid.UUID = Field(description="The customer's id in the booking service; the same for every booking of the customer.")
    name: str | None = Field(None, max_length=200, description="Full name as it goes on letters.")
    phone: str | None = Field(None, max_length=32, description="Mobile number in E.164 form, such as +46701234567.")
    email: str | None = Field(None, max_length=254, description="E-mail address.")
    language: Language | None = Field(None, description="Preferred language; the tenant's when empty.")
    preferred_channel: Channel | None = Field(None, description="The channel the customer prefers (X3); the others are fallbacks.")
    address: Address | None = Field(None, description="Postal address for letters.")
    customer_number: str | None = Field(None, max_length=64, description="The business's own number for the customer, if it has one.")


class WorkLine(Part):
    """One line of planned work on a booking, as printed on the notice and shown at check-in (C2)."""

    line_id: uuid.UUID = Field(description="The line's id.")
    service: str = Field(max_length=100, description="The catalog service the line is for, or free text.")
    description: str | None = Field(None, max_length=500, description="What will be done, as the customer reads it.")
    remark: str | None = Field(None, max_length=1000, description="A remark for the customer or the technician.")
    price_incl_vat: Decimal | None = Field(None, ge=0, max_digits=12, decimal_places=2, description="Price including VAT.")
    vat_rate: Decimal | None = Field(None, ge=0, le=1, description="VAT rate as a fraction, such as 0.25.")
    article_number: str | None = Field(None, max_length=64, description="The till's article number (E5).")
    origin: Literal["planned", "check-in-intervention", "check-in-optional-service"] = Field(
        "planned", description="How the line came to be: planned by staff, or from the check-in (C5).")


class Subject(Part):
    """What the work is on: a vehicle, a meter, a patient's chart (free-form facts)."""

    kind: str = Field(max_length=40, description="Such as `vehicle`, `meter` or `patient`.")
    details: dict[str, str] = Field(default_factory=dict, max_length=20,
                                    description="Facts by name, such as registration, make and model.")


class CatalogService(Part):
    """One service of a tenant's catalog: what it is called, takes and costs (C2, E5)."""

    service: str = Field(max_length=100, description="The service's key, as bookings name it, such as `oil-change`.")
    name: str = Field(max_length=200, description="What customers read.")
    duration_minutes: int = Field(ge=1, le=24 * 60 * 14, description="How long it usually takes.")
    price_incl_vat: Decimal | None = Field(None, ge=0, max_digits=12, decimal_places=2, description="Price including VAT.")
    vat_rate: Decimal | None = Field(None, ge=0, le=1, description="VAT rate as a fraction, such as 0.25.")
    article_numbers: list[str] = Field(default_factory=list, max_length=50, description="The till's article numbers (E5).")
    description: str | None = Field(None, max_length=2000, description="What it is, for customers.")
    link: str | None = Field(None, max_length=500, description="A page about it (C2's optional link).")
    offered_at_checkin: bool = Field(False, description="Offered as an optional service on the check-in page (C2).")
    bookable_online: bool = Field(True, description="Customers may book it on the online booking page (D2).")


class BookingSnapshot(Part):
    """A booking as it is after a change: enough for another service's projection, so that no
    service ever has to ask the booking service."""

    booking_id: uuid.UUID = Field(description="The booking.")
    customer_id: uuid.UUID = Field(description="Its customer.")
    service: str = Field(description="The service booked.")
    starts_at: AwareDatetime = Field(description="Planned start.")
    ends_at: AwareDatetime = Field(description="Planned end.")
    technician_id: uuid.UUID | None = Field(None, description="The technician or chair assigned, if any.")
    state: BookingState = Field(description="The booking's state.")
    flow: BookingFlow = Field("none", description="The conversation the booking follows.")
    version: int = Field(ge=0, description="Goes up by one with every change of state.")
    source: BookingSource = Field("staff", description="Where the booking came from.")


__all__ = [
    "BOOKING_STATES", "ENDED_STATES", "LANGUAGES", "WORK_LIST_STATES", "Address", "BookingFlow", "BookingSnapshot",
    "BookingSource", "BookingState", "CatalogService", "Channel", "CustomerSnapshot", "Language", "Part", "Subject", "WorkLine",
]
