"""Book-again reminders (flow D, seed 003): when one may be set, when it is sent, and every reason
it stops before it is sent.

A reminder is `scheduled` from the moment staff set it, `due` once its timer fired (it waits a
short settle so that a booking made just before the instant is seen, see handlers.book_again),
then `sent` (one SMS was asked for: the reminder is done) or `cancelled` with why. One customer
has at most one active (scheduled or due) reminder: setting a new one replaces it.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

State = Literal["scheduled", "due", "sent", "cancelled"]
ACTIVE: tuple[str, ...] = ("scheduled", "due")

# Why a reminder stops before it is sent (D4), as staff read it in its history.
CONTACT_CHANGED = "the customer's name, e-mail or phone changed"
BOOKING_DELETED = "the booking it was set from was deleted"
BOOKED_FIRST = "the customer booked before the reminder was sent"
CONSENT_WITHDRAWN = "the customer withdrew consent to marketing messages"
NO_MOBILE = "the customer has no mobile number"
REPLACED = "replaced by a new reminder"
BY_STAFF = "removed by staff"

CONTACT_FIELDS = frozenset({"name", "email", "phone"})
"""D4: a change of any of these stops the reminder (seed 003: "namn, e-postadress eller telefonnummer")."""


@dataclass(frozen=True)
class Customer:
    """What book-again knows of a customer, from `customer.updated` (and bookings' snapshots)."""

    customer_id: uuid.UUID
    name: str | None
    phone: str | None
    marketing_consent: bool | None
    consent_changed_at: datetime | None
    contact_changed_at: datetime | None
    """When name, e-mail or phone last changed (the event's instant), if ever after creation."""


@dataclass(frozen=True)
class Reminder:
    id: uuid.UUID
    tenant_id: str
    customer_id: uuid.UUID
    booking_id: uuid.UUID
    service: str
    after: int
    unit: str
    set_at: datetime
    due_at: datetime
    state: State
    sent_at: datetime | None = None
    delivery_status: str | None = None

    @property
    def active(self) -> bool:
        return self.state in ACTIVE


class NotAllowed(Exception):
    """A reminder cannot be set; `code` and the text say why."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code


def may_set(customer: Customer | None, booking_state: str) -> None:
    """D1: only for customers with recorded marketing consent (seed 003: "kom ihåg att alltid fråga
    kunden"), on past and future bookings alike, never on a deleted one; the SMS needs a number."""
    if booking_state == "deleted":
        raise NotAllowed("booking-deleted", "the booking is deleted; set the reminder from one of the customer's other bookings")
    if customer is None or customer.marketing_consent is not True:
        raise NotAllowed(
            "no-marketing-consent",
            "the customer has not consented to marketing messages: ask them first and record their consent on the customer card"
            if customer is None or customer.marketing_consent is None else
            "the customer has withdrawn consent to marketing messages, so no book-again reminder may be sent")
    if not customer.phone:
        raise NotAllowed("no-mobile-number", "the customer has no mobile number for the SMS; add one on the customer card first")


def reason_to_stop(reminder: Reminder, customer: Customer | None, origin_state: str | None,
                   booked_since: datetime | None) -> str | None:
    """Why the reminder must not be sent now (D4), or None: decided again when it is due, so a
    change whose event came late, or out of order, still stops it. `booked_since` is when the
    customer's first booking made after the reminder was set was made, if there is one."""
    if origin_state == "deleted":
        return BOOKING_DELETED
    if booked_since is not None:
        return BOOKED_FIRST
    if customer is None or customer.marketing_consent is not True:
        return CONSENT_WITHDRAWN
    if customer.contact_changed_at is not None and customer.contact_changed_at > reminder.set_at:
        return CONTACT_CHANGED
    if not customer.phone:
        return NO_MOBILE
    return None


def contact_change_stops(reminder: Reminder, changed_fields: set[str], changed_at: datetime) -> bool:
    """A `customer.updated` stops an active reminder when it names a contact field and happened
    after the reminder was set (an older change that arrives late does not)."""
    return reminder.active and bool(CONTACT_FIELDS & changed_fields) and changed_at > reminder.set_at


def booking_stops(reminder: Reminder, booked_at: datetime, booking_id: uuid.UUID) -> bool:
    """A booking of the customer made after the reminder was set stops it while it is active."""
    return reminder.active and booked_at > reminder.set_at and booking_id != reminder.booking_id


def booking_withdraws(reminder: Reminder, booked_at: datetime, source_ref: str | None) -> bool:
    """A booking made after the reminder was set whose event arrived only after the SMS was asked
    for, while the SMS has not gone out yet (held for quiet hours, queued): it is withdrawn. A
    booking made through the reminder's own link never withdraws it."""
    return (reminder.state == "sent" and reminder.delivery_status in (None, "queued") and booked_at > reminder.set_at
            and source_ref != str(reminder.id))
