"""What the booking service announces, and the commands other services send it.

Events: `booking.created`, `order.transitioned` (with a snapshot of the booking after the change),
`customer.updated`, `tenant.updated`. Commands on `booking.commands` (from check-in and recall)
are answered on `booking.command-results`, so the sender learns whether it was applied.
"""

from __future__ import annotations

import uuid
from typing import Any, Literal

from pydantic import AwareDatetime, Field

from bookflow_contracts import topics
from bookflow_contracts.envelope import Message, booking_key
from bookflow_contracts.parts import (
    Address, BookingFlow, BookingSnapshot, BookingSource, BookingState, CatalogService, Channel, CustomerSnapshot, Subject,
    WorkLine,
)


def customer_key(customer_id: uuid.UUID | str) -> str:
    """The ordering key of what concerns one customer."""
    return f"customer:{customer_id}"


class BookingCreated(Message):
    """A booking or work order was created (SPEC A1, B1)."""

    message_type = "booking.created"
    topic = topics.BOOKING_CREATED
    version = 2  # 2: work lines, subject, extra information, source

    booking_id: uuid.UUID = Field(description="The booking's id.")
    customer: CustomerSnapshot = Field(description="Who the booking is for; `customer.customer_id` is the same for all their bookings.")
    service: str = Field(description="The service booked, such as `meter-replacement` or `haircut`.")
    starts_at: AwareDatetime = Field(description="Planned start.")
    ends_at: AwareDatetime = Field(description="Planned end (start plus estimate).")
    resource_id: uuid.UUID | None = Field(None, description="The technician or chair assigned, if any.")
    place: Address | None = Field(None, description="Where the visit takes place.")
    flow: BookingFlow = Field("none", description="Which customer conversation this booking follows.")
    state: BookingState = Field(description="The booking's state at creation.")
    booking_version: int = Field(0, ge=0, description="The booking's version at creation (its state changes count up from it).")
    work_lines: list[WorkLine] = Field(default_factory=list, description="The planned work, with prices including VAT.")
    subject: Subject | None = Field(None, description="What the work is on (vehicle, meter, chart).")
    extra_info: str | None = Field(None, max_length=2000, description="Extra information printed on the notice (A1).")
    source: BookingSource = Field("staff", description="Where the booking came from (D5, E4).")
    source_ref: str | None = Field(None, max_length=200, description="What in the source made it: a book-again reminder's or a recall's id.")
    rebooked_from: uuid.UUID | None = Field(None, description="The booking this one replaced (A2 rebooking).")

    def ordering_key(self) -> str:
        return booking_key(self.booking_id)


class OrderTransitioned(Message):
    """A booking or work order changed state (SPEC flow B, last line), with the booking after it."""

    message_type = "order.transitioned"
    topic = topics.ORDER_TRANSITIONED
    version = 2  # 2: `booking`, the snapshot after the change

    booking_id: uuid.UUID = Field(description="The booking or work order.")
    from_state: BookingState = Field(description="State before.")
    to_state: BookingState = Field(description="State after.")
    transition: str = Field(description="The transition's name, such as `confirm`, `reschedule`, `complete` or `delete`.")
    actor: str = Field(description="Who did it: `customer`, `system`, or `staff:<id>`.")
    reason: str | None = Field(None, description="Why, in words, such as `rebooked`.")
    booking: BookingSnapshot | None = Field(None, description="The booking after the change (start, end, technician, state…).")

    def ordering_key(self) -> str:
        return booking_key(self.booking_id)


CustomerField = Literal["name", "phone", "email", "language", "preferred_channel", "address", "customer_number", "marketing_consent"]


class CustomerUpdated(Message):
    """A customer was created or their contact details, language, preferred channel or consent changed."""

    message_type = "customer.updated"
    topic = topics.CUSTOMER_UPDATED
    version = 2  # 2: consent's when and how, the actor, the command that asked for it

    customer: CustomerSnapshot = Field(description="The customer as they are now.")
    marketing_consent: bool | None = Field(None, description="Consent to book-again and recall messages; None: never recorded.")
    consent_changed_at: AwareDatetime | None = Field(None, description="When consent was last given or withdrawn.")
    consent_source: Literal["staff", "my-pages", "check-in"] | None = Field(None, description="How consent was last given or withdrawn.")
    changed_fields: list[CustomerField] = Field(default_factory=list, description="Which fields changed; empty when the customer is new.")
    actor: str = Field("system", description="Who changed it: `staff:<id>`, `customer`, `check-in` or `system`.")
    request_id: uuid.UUID | None = Field(None, description="The command that asked for the change, if one did.")

    def ordering_key(self) -> str:
        return customer_key(self.customer.customer_id)


class TenantUpdated(Message):
    """A tenant was created or its settings changed; other services keep what they need."""

    message_type = "tenant.updated"
    topic = topics.TENANT_UPDATED

    name: str = Field(description="The business's name, as customers see it.")
    time_zone: str = Field(description="IANA time zone, such as Europe/Stockholm.")
    language: str = Field(description="Default language for customers (sv, nb, da, nl, en).")
    settings: dict[str, Any] = Field(default_factory=dict, description="Further settings by name.")
    tenant_id: str = Field(description="The tenant's id (repeated from the envelope for keying).")

    def ordering_key(self) -> str:
        return f"tenant:{self.tenant_id}"


class CatalogUpdated(Message):
    """A tenant's service catalog changed; the whole catalog, so a consumer keeps it by replacing."""

    message_type = "catalog.updated"
    topic = topics.TENANT_UPDATED

    tenant_id: str = Field(description="The tenant (repeated from the envelope for keying).")
    services: list[CatalogService] = Field(default_factory=list, max_length=2000, description="Every service of the catalog.")

    def ordering_key(self) -> str:
        return f"tenant:{self.tenant_id}"


# --- commands to the booking service ---------------------------------------------------------


class ChangeCustomerContact(Message):
    """Check-in's welcome step (C3): the customer corrected phone or e-mail or chose a preferred
    channel. Booking applies it, publishes `customer.updated` and logs it with the customer."""

    message_type = "booking.change-customer-contact"
    topic = topics.BOOKING_COMMANDS

    request_id: uuid.UUID = Field(description="Unique per request; the same request twice is applied once.")
    customer_id: uuid.UUID = Field(description="The customer.")
    booking_id: uuid.UUID | None = Field(None, description="The booking the change was made from, for the log.")
    phone: str | None = Field(None, max_length=32, description="New mobile number; unchanged when empty.")
    email: str | None = Field(None, max_length=254, description="New e-mail address; unchanged when empty.")
    preferred_channel: Channel | None = Field(None, description="New preferred channel; unchanged when empty.")
    source: Literal["check-in", "my-pages"] = Field("check-in", description="Where the customer made the change.")

    def ordering_key(self) -> str:
        return customer_key(self.customer_id)


class AddWorkLine(Message):
    """Check-in (C5): an intervention from a comment, or an optional service the customer accepted,
    becomes a work line on the booking."""

    message_type = "booking.add-work-line"
    topic = topics.BOOKING_COMMANDS

    request_id: uuid.UUID = Field(description="Unique per request; the same request twice adds one line.")
    booking_id: uuid.UUID = Field(description="The booking.")
    line: WorkLine = Field(description="The line to add; its `line_id` is kept.")

    def ordering_key(self) -> str:
        return booking_key(self.booking_id)


class AutoBook(Message):
    """Recall (E4): book the customer into the first free slot of the service in a window, or say
    there was none. Two requests never get the same slot."""

    message_type = "booking.auto-book"
    topic = topics.BOOKING_COMMANDS

    request_id: uuid.UUID = Field(description="Unique per request; the same request twice books once.")
    customer_id: uuid.UUID = Field(description="The customer to book.")
    service: str = Field(max_length=100, description="The service to book.")
    search_from: AwareDatetime = Field(description="The earliest start to consider.")
    search_until: AwareDatetime = Field(description="The latest start to consider (E4: 30 days after the recall date).")
    source_ref: str | None = Field(None, max_length=200, description="The recall this is for, carried to `booking.created.source_ref`.")

    def ordering_key(self) -> str:
        return customer_key(self.customer_id)


class BookingCommandApplied(Message):
    """A command to the booking service was applied (for `booking.auto-book`: the booking made)."""

    message_type = "booking.command-applied"
    topic = topics.BOOKING_COMMAND_RESULTS

    request_id: uuid.UUID = Field(description="The command's request id.")
    command: str = Field(description="The command's message type.")
    customer_id: uuid.UUID | None = Field(None, description="The customer concerned.")
    booking_id: uuid.UUID | None = Field(None, description="The booking concerned (the new one for auto-book).")
    starts_at: AwareDatetime | None = Field(None, description="Auto-book: the start of the booking made.")

    def ordering_key(self) -> str:
        return customer_key(self.customer_id) if self.customer_id else f"request:{self.request_id}"


class BookingCommandRefused(Message):
    """A command to the booking service was not applied, and why."""

    message_type = "booking.command-refused"
    topic = topics.BOOKING_COMMAND_RESULTS

    request_id: uuid.UUID = Field(description="The command's request id.")
    command: str = Field(description="The command's message type.")
    customer_id: uuid.UUID | None = Field(None, description="The customer concerned.")
    booking_id: uuid.UUID | None = Field(None, description="The booking concerned.")
    reason_code: Literal["no-free-slot", "not-found", "invalid", "not-allowed"] = Field(description="Why, as a code.")
    reason: str = Field(max_length=500, description="Why, in words.")

    def ordering_key(self) -> str:
        return customer_key(self.customer_id) if self.customer_id else f"request:{self.request_id}"


__all__ = [
    "AddWorkLine", "AutoBook", "BookingCommandApplied", "CatalogUpdated", "BookingCommandRefused", "BookingCreated", "ChangeCustomerContact",
    "CustomerField", "CustomerUpdated", "OrderTransitioned", "TenantUpdated", "customer_key",
]
