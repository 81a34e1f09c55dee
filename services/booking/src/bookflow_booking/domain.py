"""Booking rules, free of I/O."""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from bookflow_contracts import Address, BookingCreated, CustomerSnapshot, SendNotification, SetTimer


class InvalidBooking(ValueError):
    """The booking request breaks a rule; the message says which."""


@dataclass(frozen=True)
class Customer:
    id: uuid.UUID
    name: str
    phone: str | None
    email: str | None
    language: str | None

    def snapshot(self, address: Address | None = None) -> CustomerSnapshot:
        return CustomerSnapshot(
            customer_id=self.id, name=self.name, phone=self.phone, email=self.email,
            language=self.language, address=address,
        )


@dataclass(frozen=True)
class Booking:
    id: uuid.UUID
    customer: Customer
    service: str
    starts_at: datetime
    ends_at: datetime
    place: Address | None
    state: str


def new_booking(customer: Customer, service: str, starts_at: datetime, ends_at: datetime, place: Address | None) -> Booking:
    """A new booking, not yet confirmed by the customer."""
    if ends_at <= starts_at:
        raise InvalidBooking("the booking must end after it starts")
    if not (customer.phone or customer.email or (place and place.street)):
        raise InvalidBooking("the customer needs a phone number, an e-mail address or a postal address")
    return Booking(uuid.uuid4(), customer, service, starts_at, ends_at, place, "unconfirmed")


def created_event(booking: Booking) -> BookingCreated:
    return BookingCreated(
        booking_id=booking.id, customer=booking.customer.snapshot(booking.place), service=booking.service,
        starts_at=booking.starts_at, ends_at=booking.ends_at, place=booking.place, state=booking.state,
    )


def notice(booking: Booking) -> SendNotification:
    """The notice telling the customer about the booking, by SMS, else e-mail, else letter."""
    c = booking.customer
    channels = [ch for ch, ok in (("sms", c.phone), ("email", c.email), ("letter", booking.place)) if ok]
    return SendNotification(
        idempotency_key=f"booking:{booking.id}:notice",
        customer=c.snapshot(booking.place),
        channels=channels,
        template_key="booking-notice",
        data={"service": booking.service, "starts_at": booking.starts_at.isoformat(), "booking_id": str(booking.id)},
        booking_id=booking.id,
    )


def reminder_timer(booking: Booking, due_at: datetime) -> SetTimer:
    """Ask the scheduler to hand a reminder back at `due_at`."""
    return SetTimer(
        timer_key=f"booking:{booking.id}:reminder",
        due_at=due_at,
        payload={"booking_id": str(booking.id), "kind": "reminder"},
    )
