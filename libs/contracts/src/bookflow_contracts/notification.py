"""Asking for messages to customers, withdrawing them, their delivery status, and customers'
answers. Requests and withdrawals about one booking share its key, so a withdrawal is always
handled after the requests it withdraws."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any, Literal

from pydantic import AwareDatetime, Field, model_validator

from bookflow_contracts import topics
from bookflow_contracts.booking import customer_key
from bookflow_contracts.envelope import Message, booking_key
from bookflow_contracts.parts import Channel, CustomerSnapshot

TemplateKey = str
"""A default template's key (bookflow_contracts.templates.TEMPLATES) or `custom:<name>` for a
tenant's own template."""


def _key(booking_id: uuid.UUID | None, customer_id: uuid.UUID) -> str:
    return booking_key(booking_id) if booking_id else customer_key(customer_id)


class SendNotification(Message):
    """Send a template to a customer by the first usable channel of `channels`."""

    message_type = "notification.send"
    topic = topics.NOTIFICATION_REQUESTS
    version = 2  # 2: regarding, regarding_version, valid_until

    idempotency_key: str = Field(min_length=1, max_length=300, description="The same key twice sends once.")
    customer: CustomerSnapshot = Field(description="Who receives it, with contact details.")
    channels: list[Channel] = Field(min_length=1, max_length=3, description="Channels to try in order (preferred first).")
    template_key: TemplateKey = Field(min_length=1, max_length=100, pattern=r"^(custom:)?[a-z0-9][a-z0-9-]*$",
                                      description="Which template, such as `booking-notice`, or `custom:<name>`.")
    data: dict[str, Any] = Field(default_factory=dict, description="Values for the template's placeholders.")
    booking_id: uuid.UUID | None = Field(None, description="The booking it concerns, if any.")
    purpose: Literal["service", "marketing"] = Field("service", description="Marketing messages need recorded consent.")
    regarding: str | None = Field(
        None, max_length=200,
        description="What the message is about, such as `booking:<id>` (the default when `booking_id` is set) or "
        "`book-again:<id>`: a `notification.withdraw` for it withdraws the message while it waits.")
    regarding_version: int | None = Field(
        None, ge=0, description="The version of what it is about when asked (a booking's version): a withdrawal "
        "`before_version` above it withdraws the message.")
    valid_until: AwareDatetime | None = Field(
        None, description="After this instant the message serves no purpose (the appointment has passed, the "
        "deadline is gone): it is not sent, and fails with that reason. Retries never go past it.")

    @model_validator(mode="after")
    def _regarding_the_booking(self) -> "SendNotification":
        if self.regarding is None and self.booking_id is not None:
            object.__setattr__(self, "regarding", booking_key(self.booking_id))
        return self

    def ordering_key(self) -> str:
        return _key(self.booking_id, self.customer.customer_id)


class WithdrawNotifications(Message):
    """The reason for waiting messages has passed (the booking was confirmed, cancelled, moved):
    every message `regarding` this that has not gone out yet, asked for before `before_version`,
    is withdrawn and never sent. Keyed like the requests it withdraws, so it comes after them."""

    message_type = "notification.withdraw"
    topic = topics.NOTIFICATION_REQUESTS

    regarding: str = Field(min_length=1, max_length=200, description="As in the requests, such as `booking:<id>`.")
    before_version: int | None = Field(None, ge=0, description="Withdraw requests of a lower `regarding_version`; all when empty.")
    reason: str = Field(max_length=300, description="Why, for the communication log, such as `the booking was confirmed`.")
    booking_id: uuid.UUID | None = Field(None, description="The booking, which also gives the ordering key.")
    customer_id: uuid.UUID | None = Field(None, description="The customer, for the ordering key when there is no booking.")

    def ordering_key(self) -> str:
        if self.booking_id is None and self.customer_id is None:
            return f"regarding:{self.regarding}"
        return _key(self.booking_id, self.customer_id)  # type: ignore[arg-type]


MessageStatusName = Literal["queued", "sent", "delivered", "failed", "suppressed", "withdrawn"]


class NotificationStatusChanged(Message):
    """A message's delivery status changed."""

    message_type = "notification.status-changed"
    topic = topics.NOTIFICATION_STATUS

    message_id: uuid.UUID = Field(description="The message's id in the notification service.")
    idempotency_key: str = Field(description="The request's idempotency key.")
    booking_id: uuid.UUID | None = Field(None, description="The booking it concerns, if any.")
    customer_id: uuid.UUID = Field(description="The receiving customer.")
    channel: Channel = Field(description="The channel it went by.")
    status: MessageStatusName = Field(description="The new status.")
    reason: str | None = Field(None, description="Why it failed, was suppressed or withdrawn.")
    at: AwareDatetime = Field(description="When the status changed.")
    template_key: str | None = Field(None, description="Which template the message was made from.")
    provider: str | None = Field(None, description="Who carried it: `46elks`, `twilio`, `smtp`, `letter`, `sandbox`.")
    segments: int | None = Field(None, ge=1, description="SMS segments the text took (GSM-7 or UCS-2).")
    cost: Decimal | None = Field(None, ge=0, description="What was billed for it (delivered SMS only), before VAT.")
    currency: str | None = Field(None, description="ISO 4217 currency of `cost`.")
    payer: str | None = Field(None, description="Who the cost is billed to.")
    regarding: str | None = Field(None, description="What the message was about, from the request.")

    def ordering_key(self) -> str:
        return _key(self.booking_id, self.customer_id)


class ReplyReceived(Message):
    """A customer answered by SMS or e-mail (SPEC B3, X1)."""

    message_type = "reply.received"
    topic = topics.REPLY_RECEIVED

    reply_id: uuid.UUID = Field(description="Unique per inbound message.")
    channel: Literal["sms", "email"] = Field(description="How it came.")
    sender: str = Field(max_length=254, description="The customer's number (E.164) or address.")
    recipient: str = Field(max_length=254, description="The tenant's number or address it was sent to.")
    text: str = Field(max_length=5000, description="What the customer wrote (at most 5,000 characters are kept).")
    received_at: AwareDatetime = Field(description="When the provider received it.")
    provider: str = Field(max_length=40, description="Which provider delivered it, such as `46elks`, `twilio` or `sandbox`.")
    provider_message_id: str | None = Field(None, max_length=200, description="The provider's own id for it.")

    def ordering_key(self) -> str:
        return f"sender:{self.sender}"


__all__ = ["MessageStatusName", "NotificationStatusChanged", "ReplyReceived", "SendNotification", "TemplateKey", "WithdrawNotifications"]
