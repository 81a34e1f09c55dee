"""A tenant's notification settings and their rules, free of I/O: the providers, quiet hours,
prices and payer that a tenant's administrator sets over the settings API, and that the booking
service may carry under the `notification` key of `TenantUpdated.settings` (the same shape in
both places). Only this service reads them, so they live here, not in libs/contracts.

Secrets (SMS API passwords and webhook secrets, SMTP passwords, inbound mail signing keys) are
shown masked as `***`; sending `***` back keeps the stored secret of the same account.
"""

from __future__ import annotations

from datetime import time
from decimal import Decimal
from pathlib import PurePosixPath
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from bookflow_notification import sealing
from bookflow_runtime.errors import Conflict, InvalidInput
from bookflow_runtime.inputs import ClockTime, Line

SmsProvider = Literal["46elks", "twilio", "sandbox"]
MASK = "***"

ELKS_API = "https://api.46elks.com"
TWILIO_API = "https://api.twilio.com"
PUBLIC_API = {"46elks": ELKS_API, "twilio": TWILIO_API}
"""Each provider's own public API: the only address a tenant's account may name, besides the
test addresses the operator allows (`sms_test_addresses`)."""


def _secret(min_length: int) -> Any:
    """A secret of at least `min_length` characters, or the mask that keeps the stored one."""

    def check(value: str) -> str:
        if value != MASK and len(value) < min_length:
            raise ValueError(f"must be at least {min_length} characters (or {MASK} to keep the stored one)")
        return value

    return Annotated[str, Line(500), AfterValidator(check)]


def _relative_folder(value: str) -> str:
    path = PurePosixPath(value)
    if path.is_absolute() or "\\" in value or any(part in ("..", ".") for part in path.parts) or not path.parts:
        raise ValueError("must be a folder name under the service's letters folder, such as `acme` or `acme/letters` "
                         "(no absolute path, no `..`)")
    return value


def is_subfolder(value: str) -> bool:
    """Whether `value` names a folder under the letters folder (and nothing above or beside it)."""
    try:
        _relative_folder(value)
    except ValueError:
        return False
    return True


def _web_address(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.username or parts.password:
        raise ValueError("must be an http(s) address such as https://api.46elks.com")
    return value


class _Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SmsProviderAccount(_Settings):
    """One SMS provider account of a tenant; the first in the list is used, the next on failure."""

    provider: SmsProvider = Field(description="`46elks`, `twilio` or `sandbox` (development mode only: shown on the sandbox page).")
    sender: Line(20, min_length=1) = Field(  # type: ignore[valid-type]
        "bookflow", description="The sending number (E.164) or an alphanumeric sender (at most 11 letters).")
    base_url: Annotated[Line(200), AfterValidator(_web_address)] | None = Field(  # type: ignore[valid-type]
        None, description="The provider's API address; empty for the provider's public API. Any other address must be "
        "one the operator allows for tests (`BOOKFLOW_NOTIFICATION_SMS_TEST_ADDRESSES`).")
    username: Line(200) | None = Field(None, description="46elks API username, or the Twilio account SID.")  # type: ignore[valid-type]
    password: _secret(1) | None = Field(  # type: ignore[valid-type]
        None, description="46elks API password, or the Twilio auth token (also signs Twilio's webhooks).")
    webhook_secret: _secret(16) | None = Field(  # type: ignore[valid-type]
        None, description="46elks: the secret put in the callback addresses, checked on every callback.")


class SmtpAccount(_Settings):
    """Where a tenant's e-mail leaves."""

    host: Line(253, min_length=1) = Field(description="SMTP server host.")  # type: ignore[valid-type]
    port: int = Field(587, ge=1, le=65535, description="SMTP port.")
    username: Line(200) | None = Field(None, description="Login, if the server needs one.")  # type: ignore[valid-type]
    password: _secret(1) | None = Field(None, description="Password for the login.")  # type: ignore[valid-type]
    starttls: bool = Field(True, description="Upgrade the connection with STARTTLS.")
    use_tls: bool = Field(False, description="Connect with TLS from the start (port 465).")
    sender: Line(300, min_length=3) = Field(  # type: ignore[valid-type]
        description="The From address, such as `Verkstad AB <noreply@verkstad.se>`.")


class InboundEmailAccount(_Settings):
    """Where customers' e-mail answers arrive: a Mailgun route forwarding to
    `/webhooks/mailgun/{tenant}/inbound`, signed with the domain's webhook signing key."""

    provider: Literal["mailgun"] = Field("mailgun", description="The inbound mail service (Mailgun routes).")
    address: Line(254, min_length=3) = Field(  # type: ignore[valid-type]
        description="The address customers answer to; outgoing e-mail carries it as Reply-To.")
    signing_key: _secret(16) = Field(  # type: ignore[valid-type]
        description="Mailgun's HTTP webhook signing key, which signs every forwarded e-mail.")


class TenantNotificationSettings(_Settings):
    """Everything the notification service needs to know of a tenant beyond name, zone and language."""

    quiet_hours_start: ClockTime = Field(time(21, 0), description="Local time from which SMS is held.")
    quiet_hours_end: ClockTime = Field(time(8, 0), description="Local time at which held SMS go out.")
    sms_providers: list[SmsProviderAccount] = Field(
        default_factory=list, max_length=5,
        description="SMS providers in order of use; the next is used when one fails. Empty: no SMS can be sent "
        "(in development mode the sandbox takes them).",
    )
    phone_region: str | None = Field(
        None, pattern=r"^[A-Z]{2}$",
        description="Country (ISO 3166, such as SE) whose national numbers customers give without a country code; "
        "empty: the country of the tenant's time zone.",
    )
    smtp: SmtpAccount | None = Field(None, description="The tenant's mail server; empty: no e-mail (the sandbox in development mode).")
    inbound_email: InboundEmailAccount | None = Field(None, description="Where e-mail answers arrive; empty: they are not received.")
    letter_folder: Annotated[Line(200), AfterValidator(_relative_folder)] | None = Field(  # type: ignore[valid-type]
        None, description="Subfolder of the service's letters folder for this tenant's letter PDFs; empty: the tenant's id.")
    address_lines: list[Line(200)] = Field(  # type: ignore[valid-type]
        default_factory=list, max_length=8, description="The tenant's own address block on letters.")
    reply_number: Line(32) | None = Field(None, description="The number customers answer to, printed on letters.")  # type: ignore[valid-type]
    phone: str | None = Field(None, max_length=40, description="The business's phone number for customers, as it is written in messages and on letters.")
    email: str | None = Field(None, max_length=200, description="The business's e-mail address for customers.")
    website: str | None = Field(None, max_length=200, description="The business's web address for customers, such as acme.se.")
    sms_price_per_segment: Decimal = Field(Decimal("0"), ge=0, le=1000, decimal_places=4, description="Price of one delivered SMS segment, before VAT.")
    currency: str = Field("SEK", pattern=r"^[A-Z]{3}$", description="ISO 4217 currency of the price.")
    payer: Line(100, min_length=1) = Field("tenant", description="Who is billed for delivered SMS by default.")  # type: ignore[valid-type]
    payer_by_template: dict[Line(100), Line(100, min_length=1)] = Field(  # type: ignore[valid-type]
        default_factory=dict, max_length=50, description="Another payer for some templates, such as `{\"book-again\": \"salon\"}`.")

    def masked(self) -> TenantNotificationSettings:
        """The settings with every secret shown as `***`."""
        return TenantNotificationSettings.model_validate(sealing.map_secrets(self.model_dump(mode="json"), lambda _: MASK))


# --- rules for a change of settings ----------------------------------------------------------


class SecretNotKept(Conflict):
    code = "secret-not-kept"


class MissingWebhookSecret(Conflict):
    code = "webhook-secret-missing"


class ProviderAddressRefused(InvalidInput):
    code = "provider-address-refused"


class SandboxOff(InvalidInput):
    code = "sandbox-off"


def with_kept_secrets(new: TenantNotificationSettings, stored: TenantNotificationSettings) -> TenantNotificationSettings:
    """`new` with each `***` replaced by the secret stored for the same account (same place in
    the list, same provider and login); SecretNotKept where there is none to keep."""
    before = stored.model_dump(mode="json")

    def kept(account: dict[str, Any], old: dict[str, Any] | None) -> dict[str, Any]:
        account = dict(account)
        for key in sealing.SECRET_FIELDS:
            if account.get(key) == MASK:
                same = old is not None and (old.get("provider"), old.get("username")) == (account.get("provider"), account.get("username"))
                if not same or not old.get(key):
                    raise SecretNotKept(f"{key} is {MASK} but no secret is stored for this account to keep: give the secret")
                account[key] = old[key]
        return account

    merged = new.model_dump(mode="json")
    olds = before["sms_providers"]
    merged["sms_providers"] = [kept(a, olds[i] if i < len(olds) else None) for i, a in enumerate(merged["sms_providers"])]
    for key in sealing.ACCOUNTS:
        if merged.get(key):
            merged[key] = kept(merged[key], before.get(key))
    return TenantNotificationSettings.model_validate(merged)


def _matches(address: str, allowed: str, *, any_port: bool) -> bool:
    a, given = urlsplit(allowed), urlsplit(address)
    if (a.scheme, a.hostname) != (given.scheme, given.hostname):
        return False
    return given.port == a.port or (a.port is None and any_port)


def provider_address_allowed(account: SmsProviderAccount, test_addresses: tuple[str, ...]) -> bool:
    """Whether the account's API address is its provider's own public API or an allowed test
    address (scheme and host, and the port where the allowed address names one). Anything else
    would let a tenant make this service call any address it can reach (server-side request
    forgery)."""
    if account.base_url is None or account.provider == "sandbox":
        return True
    if _matches(account.base_url, PUBLIC_API[account.provider], any_port=False):
        return True
    return any(_matches(account.base_url, allowed, any_port=True) for allowed in test_addresses)


def check_change(settings: TenantNotificationSettings, *, test_addresses: tuple[str, ...], sandbox_enabled: bool) -> None:
    """Refuse settings an administrator may not save: a 46elks account without its webhook
    secret, a provider address that is not the provider's, the sandbox where it is off."""
    for index, account in enumerate(settings.sms_providers):
        if account.provider == "46elks" and not account.webhook_secret:
            raise MissingWebhookSecret("a 46elks account needs a webhook_secret: 46elks signs nothing, so the secret checks its callbacks")
        if not provider_address_allowed(account, test_addresses):
            raise ProviderAddressRefused(f"sms_providers.{index}.base_url must be {PUBLIC_API[account.provider]} (or empty)")
        if account.provider == "sandbox" and not sandbox_enabled:
            raise SandboxOff(f"sms_providers.{index}: the sandbox runs in development mode only")


def receiving_numbers(settings: TenantNotificationSettings) -> set[str]:
    """Numbers customers' answers arrive at, by which an inbound SMS finds its tenant."""
    numbers = {a.sender for a in settings.sms_providers if a.provider != "sandbox" and a.sender.startswith("+")}
    if settings.reply_number:
        numbers.add(settings.reply_number)
    return numbers


__all__ = ["InboundEmailAccount", "SmsProvider", "SmsProviderAccount", "SmtpAccount", "TenantNotificationSettings"]
