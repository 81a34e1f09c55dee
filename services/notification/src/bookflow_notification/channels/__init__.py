"""The ways a message leaves, behind one small interface: `send(outgoing) -> Accepted`, raising
`SendFailed` (retryable or not). SMS goes through a provider (46elks, Twilio, or the sandbox in
development mode), e-mail over SMTP (or the sandbox in development mode), letters as PDF files in
the tenant's letter folder.

The sandbox's "delivery" is a row in the service's own table, written by the dispatcher in the
same transaction that records the outcome, so the sandbox has no crash window at all.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from bookflow_contracts import Channel
from bookflow_notification.tenant_settings import SmsProviderAccount, TenantNotificationSettings


@dataclass(frozen=True)
class Outgoing:
    """One message ready to leave."""

    message_id: uuid.UUID
    tenant_id: str
    tenant_name: str
    channel: Channel
    to: str
    subject: str
    body: str
    settings: TenantNotificationSettings
    account: SmsProviderAccount | None = None  # for SMS: the provider account this attempt uses
    customer: dict[str, Any] = field(default_factory=dict)
    booking_code: str | None = None
    language: str = "en"  # the language the text was written in (a letter's date and closing follow it)
    zone: str | None = None  # the tenant's time zone (a letter is dated by the tenant's calendar)


@dataclass(frozen=True)
class Accepted:
    """The channel took the message. `delivered`: it is known to have arrived (sandbox, SMTP);
    otherwise a delivery report will tell."""

    provider: str
    provider_message_id: str
    delivered: bool = False
    sandbox: bool = False
    letter_path: str | None = None


class SendFailed(Exception):
    """The channel did not take the message: `retryable` for timeouts, refused connections and
    5xx answers; not for refusals such as a bad number or bad credentials."""

    def __init__(self, reason: str, *, retryable: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retryable = retryable
