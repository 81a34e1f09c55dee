"""The notification service's tenant settings (to move into that service: only it reads them);
shared parts are in parts.py.

`TenantNotificationSettings` is what a tenant's administrator sets over the notification
service's settings API, and what the booking service may carry under the `notification` key of
`TenantUpdated.settings`: the same shape in both places.
"""

from __future__ import annotations

from datetime import time
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

SmsProvider = Literal["46elks", "twilio", "sandbox"]
MessageStatus = Literal["queued", "sending", "sent", "delivered", "failed", "suppressed"]


class _Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SmsProviderAccount(_Settings):
    """One SMS provider account of a tenant; the first in the list is used, the next on failure."""

    provider: SmsProvider = Field(description="`46elks`, `twilio` or `sandbox` (local runs: shown on the sandbox page).")
    sender: str = Field("bookflow", min_length=1, max_length=20, description="The sending number (E.164) or an alphanumeric sender (at most 11 letters).")
    base_url: str | None = Field(None, description="The provider's API address; empty for the provider's public API.")
    username: str | None = Field(None, description="46elks API username, or the Twilio account SID.")
    password: str | None = Field(None, description="46elks API password, or the Twilio auth token (also signs Twilio's webhooks).")
    webhook_secret: str | None = Field(
        None, min_length=16, description="46elks: the secret put in the callback addresses, checked on every callback."
    )


class SmtpAccount(_Settings):
    """Where a tenant's e-mail leaves."""

    host: str = Field(description="SMTP server host.")
    port: int = Field(587, ge=1, le=65535, description="SMTP port.")
    username: str | None = Field(None, description="Login, if the server needs one.")
    password: str | None = Field(None, description="Password for the login.")
    starttls: bool = Field(True, description="Upgrade the connection with STARTTLS.")
    use_tls: bool = Field(False, description="Connect with TLS from the start (port 465).")
    sender: str = Field(description="The From address, such as `Verkstad AB <noreply@verkstad.se>`.")


class InboundEmailAccount(_Settings):
    """Where customers' e-mail answers arrive: a Mailgun route forwarding to
    `/webhooks/mailgun/{tenant}/inbound`, signed with the domain's webhook signing key."""

    provider: Literal["mailgun"] = Field("mailgun", description="The inbound mail service (Mailgun routes).")
    address: str = Field(min_length=3, description="The address customers answer to; outgoing e-mail carries it as Reply-To.")
    signing_key: str = Field(min_length=16, description="Mailgun's HTTP webhook signing key, which signs every forwarded e-mail.")


class TenantNotificationSettings(_Settings):
    """Everything the notification service needs to know of a tenant beyond name, zone and language."""

    quiet_hours_start: time = Field(time(21, 0), description="Local time from which SMS is held.")
    quiet_hours_end: time = Field(time(8, 0), description="Local time at which held SMS go out.")
    sms_providers: list[SmsProviderAccount] = Field(
        default_factory=lambda: [SmsProviderAccount(provider="sandbox")],
        description="SMS providers in order of use; the next is used when one fails.",
    )
    phone_region: str | None = Field(
        None, pattern=r"^[A-Z]{2}$",
        description="Country (ISO 3166, such as SE) whose national numbers customers give without a country code; "
        "empty: the country of the tenant's time zone.",
    )
    smtp: SmtpAccount | None = Field(None, description="The tenant's mail server; empty sends e-mail to the sandbox.")
    inbound_email: InboundEmailAccount | None = Field(None, description="Where e-mail answers arrive; empty: they are not received.")
    letter_folder: str | None = Field(None, description="Folder for letter PDFs; empty uses the service's letters folder.")
    address_lines: list[str] = Field(default_factory=list, description="The tenant's own address block on letters.")
    reply_number: str | None = Field(None, description="The number customers answer to, printed on letters.")
    phone: str | None = Field(None, max_length=40, description="The business's phone number for customers, as it is written in messages and on letters.")
    email: str | None = Field(None, max_length=200, description="The business's e-mail address for customers.")
    website: str | None = Field(None, max_length=200, description="The business's web address for customers, such as acme.se.")
    sms_price_per_segment: Decimal = Field(Decimal("0"), ge=0, description="Price of one delivered SMS segment, before VAT.")
    currency: str = Field("SEK", min_length=3, max_length=3, description="ISO 4217 currency of the price.")
    payer: str = Field("tenant", min_length=1, description="Who is billed for delivered SMS by default.")
    payer_by_template: dict[str, str] = Field(
        default_factory=dict, description="Another payer for some templates, such as `{\"book-again\": \"salon\"}`."
    )


__all__ = ["InboundEmailAccount", "MessageStatus", "SmsProvider", "SmsProviderAccount", "SmtpAccount", "TenantNotificationSettings"]
