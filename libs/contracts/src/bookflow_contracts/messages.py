"""Every event (past tense) and command (imperative) that crosses a service border, version 1."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from bookflow_contracts import topics
from bookflow_contracts.envelope import Message, booking_key

Channel = Literal["sms", "email", "letter"]
BookingFlow = Literal["confirmation", "letter", "none"]


class _Part(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class Address(_Part):
    """Where the visit takes place, or where a letter goes."""

    street: str | None = Field(None, description="Street and number.")
    postcode: str | None = Field(None, description="Postcode.")
    city: str | None = Field(None, description="Town or city.")


class CustomerSnapshot(_Part):
    """A customer's contact details as they were when the message was written."""

    customer_id: uuid.UUID = Field(description="The customer's id in the booking service.")
    name: str | None = Field(None, description="Full name as it goes on letters.")
    phone: str | None = Field(None, description="Mobile number in E.164 form, such as +46701234567.")
    email: str | None = Field(None, description="E-mail address.")
    language: str | None = Field(None, description="Preferred language (sv, nb, da, nl, en); the tenant's when empty.")
    preferred_channel: Channel | None = Field(None, description="The channel the customer prefers.")
    address: Address | None = Field(None, description="Postal address for letters.")


# --- booking service -------------------------------------------------------------------------


class BookingCreated(Message):
    """A booking or work order was created (SPEC A1, B1)."""

    message_type = "booking.created"
    topic = topics.BOOKING_CREATED

    booking_id: uuid.UUID = Field(description="The booking's id.")
    customer: CustomerSnapshot = Field(description="Who the booking is for.")
    service: str = Field(description="The service booked, such as `meter-replacement` or `haircut`.")
    starts_at: AwareDatetime = Field(description="Planned start.")
    ends_at: AwareDatetime = Field(description="Planned end (start plus estimate).")
    resource_id: uuid.UUID | None = Field(None, description="The technician or chair assigned, if any.")
    place: Address | None = Field(None, description="Where the visit takes place.")
    flow: BookingFlow = Field("none", description="Which customer conversation this booking follows.")
    state: str = Field(description="The booking's state at creation.")

    def ordering_key(self) -> str:
        return booking_key(self.booking_id)


class OrderTransitioned(Message):
    """A booking or work order changed state (SPEC flow B, last line)."""

    message_type = "order.transitioned"
    topic = topics.ORDER_TRANSITIONED

    booking_id: uuid.UUID = Field(description="The booking or work order.")
    from_state: str = Field(description="State before.")
    to_state: str = Field(description="State after.")
    transition: str = Field(description="The transition's name, such as `confirm` or `release`.")
    actor: str = Field(description="Who did it: `customer`, `system`, or a staff user's id.")
    reason: str | None = Field(None, description="Why, in words, such as `rebooked`.")

    def ordering_key(self) -> str:
        return booking_key(self.booking_id)


class CustomerUpdated(Message):
    """A customer's contact details or preferences changed."""

    message_type = "customer.updated"
    topic = topics.CUSTOMER_UPDATED

    customer: CustomerSnapshot = Field(description="The customer as they are now.")
    marketing_consent: bool | None = Field(None, description="Consent to book-again and recall messages.")
    changed_fields: list[str] = Field(default_factory=list, description="Which fields changed.")

    def ordering_key(self) -> str:
        return f"customer:{self.customer.customer_id}"


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


# --- scheduler -------------------------------------------------------------------------------


def timer_subject(timer_key: str) -> str:
    """The part of a timer key up to its second colon: `booking:123:reminder` -> `booking:123`.

    Timer commands are keyed by it, so setting and cancelling one booking's timers stay in order.
    """
    return ":".join(timer_key.split(":")[:2])


class SetTimer(Message):
    """Set a timer; setting the same key again reschedules it (the old instant never fires)."""

    message_type = "timer.set"
    topic = topics.TIMER_REQUESTS

    timer_key: str = Field(min_length=1, max_length=300, description="Chosen by the requester, such as `booking:123:confirm-reminder`.")
    due_at: AwareDatetime = Field(description="When to fire.")
    payload: dict[str, Any] = Field(default_factory=dict, description="Handed back unchanged in `reminder.due`.")

    def ordering_key(self) -> str:
        return timer_subject(self.timer_key)


class CancelTimer(Message):
    """Cancel one timer by key; cancelling an unknown or fired timer changes nothing."""

    message_type = "timer.cancel"
    topic = topics.TIMER_REQUESTS

    timer_key: str = Field(min_length=1, max_length=300, description="The key the timer was set with.")

    def ordering_key(self) -> str:
        return timer_subject(self.timer_key)


class CancelTimersWithPrefix(Message):
    """Cancel every pending timer whose key starts with `prefix`, such as all of one booking's."""

    message_type = "timer.cancel-prefix"
    topic = topics.TIMER_REQUESTS

    prefix: str = Field(min_length=3, max_length=300, description="Key prefix, such as `booking:123:`.")

    def ordering_key(self) -> str:
        return timer_subject(self.prefix)


class ReminderDue(Message):
    """A timer reached its instant. Consumers check that what it was for still holds."""

    message_type = "reminder.due"
    topic = topics.REMINDER_DUE

    timer_key: str = Field(description="The key the timer was set with.")
    payload: dict[str, Any] = Field(default_factory=dict, description="What the requester gave when setting it.")
    due_at: AwareDatetime = Field(description="The instant it was set for.")
    fired_at: AwareDatetime = Field(description="When the scheduler fired it.")
    lateness_ms: int = Field(ge=0, description="fired_at minus due_at in milliseconds (0 if early).")

    def ordering_key(self) -> str:
        return timer_subject(self.timer_key)


# --- notification ----------------------------------------------------------------------------


class SendNotification(Message):
    """Send a template to a customer by the first usable channel of the policy."""

    message_type = "notification.send"
    topic = topics.NOTIFICATION_REQUESTS

    idempotency_key: str = Field(min_length=1, max_length=300, description="The same key twice sends once.")
    customer: CustomerSnapshot = Field(description="Who receives it, with contact details.")
    channels: list[Channel] = Field(min_length=1, description="Channels to try in order (preferred first).")
    template_key: str = Field(description="Which template, such as `notice-letter` or `confirm-reminder`.")
    data: dict[str, Any] = Field(default_factory=dict, description="Values for the template's placeholders.")
    booking_id: uuid.UUID | None = Field(None, description="The booking it concerns, if any.")
    purpose: Literal["service", "marketing"] = Field("service", description="Marketing messages need recorded consent.")

    def ordering_key(self) -> str:
        return booking_key(self.booking_id) if self.booking_id else f"customer:{self.customer.customer_id}"


class NotificationStatusChanged(Message):
    """A message's delivery status changed."""

    message_type = "notification.status-changed"
    topic = topics.NOTIFICATION_STATUS

    message_id: uuid.UUID = Field(description="The message's id in the notification service.")
    idempotency_key: str = Field(description="The request's idempotency key.")
    booking_id: uuid.UUID | None = Field(None, description="The booking it concerns, if any.")
    customer_id: uuid.UUID = Field(description="The receiving customer.")
    channel: Channel = Field(description="The channel it went by.")
    status: Literal["queued", "sent", "delivered", "failed", "suppressed"] = Field(description="The new status.")
    reason: str | None = Field(None, description="Why it failed or was suppressed.")
    at: AwareDatetime = Field(description="When the status changed.")
    template_key: str | None = Field(None, description="Which template the message was made from.")
    provider: str | None = Field(None, description="Who carried it: `46elks`, `twilio`, `smtp`, `letter`, `sandbox`.")
    segments: int | None = Field(None, ge=1, description="SMS segments the text took (GSM-7 or UCS-2).")
    cost: Decimal | None = Field(None, ge=0, description="What was billed for it (delivered SMS only), before VAT.")
    currency: str | None = Field(None, description="ISO 4217 currency of `cost`.")
    payer: str | None = Field(None, description="Who the cost is billed to.")

    def ordering_key(self) -> str:
        return booking_key(self.booking_id) if self.booking_id else f"customer:{self.customer_id}"


class ReplyReceived(Message):
    """A customer answered by SMS or e-mail (SPEC B3, X1)."""

    message_type = "reply.received"
    topic = topics.REPLY_RECEIVED

    reply_id: uuid.UUID = Field(description="Unique per inbound message.")
    channel: Literal["sms", "email"] = Field(description="How it came.")
    sender: str = Field(description="The customer's number or address.")
    recipient: str = Field(description="The tenant's number or address it was sent to.")
    text: str = Field(description="What the customer wrote.")
    received_at: AwareDatetime = Field(description="When the provider received it.")
    provider: str = Field(description="Which provider delivered it, such as `46elks`, `twilio` or `sandbox`.")
    provider_message_id: str | None = Field(None, description="The provider's own id for it.")

    def ordering_key(self) -> str:
        return f"sender:{self.sender}"


__all__ = [
    "Address",
    "BookingCreated",
    "BookingFlow",
    "CancelTimer",
    "CancelTimersWithPrefix",
    "Channel",
    "CustomerSnapshot",
    "CustomerUpdated",
    "NotificationStatusChanged",
    "OrderTransitioned",
    "ReminderDue",
    "ReplyReceived",
    "SendNotification",
    "SetTimer",
    "TenantUpdated",
    "timer_subject",
]
