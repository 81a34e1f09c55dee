"""The notification service's rules, free of I/O: the message as the service keeps it, which
channel it takes, whether it may go at all (opt-out, consent, withdrawn, past its purpose),
quiet hours, what to do after a provider fails and for how long, how a delivery report moves a
message's status, and what a delivered SMS costs."""

from __future__ import annotations

import functools
import re
import uuid
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from decimal import Decimal
from typing import Any, Literal, NamedTuple
from zoneinfo import ZoneInfo

import phonenumbers

from bookflow_contracts import Channel, CustomerSnapshot

# --- the message -----------------------------------------------------------------------------


class Message(NamedTuple):
    """One message to one customer, from its request to its last status. Storage maps rows to
    it (`storage.MESSAGE_FIELDS` lists the columns in this order); a change is a new value
    (`message._replace(...)`), written back by storage. (A named tuple, not a frozen dataclass:
    the dispatcher makes three of these a message, and a frozen dataclass of forty fields takes
    7 µs to make, a tuple 1–2.)"""

    id: uuid.UUID
    tenant_id: str
    idempotency_key: str
    booking_id: uuid.UUID | None
    customer_id: uuid.UUID
    customer: CustomerSnapshot
    channels: list[Channel]
    channel_index: int
    data: dict[str, Any]
    purpose: str
    language: str | None
    correlation_id: str | None
    template_key: str
    status: str
    reason: str | None
    not_before: datetime
    attempts: int  # failed calls to the current provider
    failures: int  # failed calls to any provider
    provider_index: int
    provider: str | None
    provider_message_id: str | None
    channel: Channel | None
    recipient: str | None
    sender: str | None
    subject: str | None
    body: str | None
    segments: int | None
    encoding: str | None
    price_per_segment: Decimal | None
    currency: str | None
    payer: str | None
    sent_at: datetime | None
    regarding: str | None
    regarding_version: int | None
    valid_until: datetime | None
    retry_until: datetime | None
    requested_at: datetime | None  # the request's `occurred_at`
    created_at: datetime  # when this service took the request in
    request_event_id: uuid.UUID | None
    causation_id: str | None

    @property
    def current_channel(self) -> Channel:
        return self.channel or (self.channels or ["sms"])[self.channel_index if self.channel_index < len(self.channels) else 0]


def past_its_purpose(message: Message, now: datetime) -> str | None:
    """Why the message must not go out any more (its `valid_until` has passed), or None."""
    if message.valid_until is not None and now >= message.valid_until:
        return f"no longer serves its purpose (valid until {message.valid_until.isoformat()})"
    return None


# --- withdrawals -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Withdrawals:
    """What is remembered of the withdrawals regarding one thing: the highest `before_version`
    given, the latest instant a withdrawal of everything was asked, and the latest instant of any
    withdrawal, with the latest reason."""

    before_version: int | None
    everything_before: datetime | None
    last_at: datetime
    reason: str


def withdrawn_on_arrival(withdrawals: Withdrawals | None, version: int | None, requested_at: datetime) -> bool:
    """Whether a request arriving after withdrawals regarding the same thing (a redelivery, or a
    request that came by another partition) is already withdrawn: it was asked before a
    withdrawal of everything, or for a version below one withdrawn, or (without a version) before
    the latest withdrawal."""
    if withdrawals is None:
        return False
    if withdrawals.everything_before is not None and requested_at < withdrawals.everything_before:
        return True
    if version is None:
        return requested_at < withdrawals.last_at
    return withdrawals.before_version is not None and version < withdrawals.before_version


# --- tenants ---------------------------------------------------------------------------------


def tenant_unknown_for_good(taken_in_at: datetime, tenants_caught_up_at: datetime | None, slack: timedelta) -> bool:
    """A request waits for its tenant's `tenant.updated`; once the tenants consumer had read
    everything its topic held at an instant after the request was taken in (plus a slack for
    clocks), and the tenant is still unknown, there is no such tenant. (The booking service
    publishes a tenant's `tenant.updated` before anything that concerns it.)"""
    return tenants_caught_up_at is not None and tenants_caught_up_at > taken_in_at + slack

# --- opt-out ---------------------------------------------------------------------------------

# The whole answer must be one of these words: "ABC123 STOP" is a booking reply, not an opt-out.
# CANCEL, AVBRYT, AFBESTIL and the like are left out on purpose: customers send them about one
# booking (SPEC B3), and treating them as "no more SMS ever" would silence a customer by mistake.
STOP_WORDS = frozenset({"STOP", "STOPP", "STOPALL", "STOP ALL", "UNSUBSCRIBE", "END", "QUIT", "OPTOUT", "OPT OUT",
                        "AVREGISTRERA", "AVSLUTA", "AFMELD", "AFMELDEN", "MELD AF", "AVMELD", "REVOKE"})
START_WORDS = frozenset({"START", "UNSTOP", "STARTA", "BEGIN"})


def opt_out_intent(text: str) -> Literal["stop", "start"] | None:
    """`stop` if the whole answer asks for no more SMS, `start` if it asks for them again."""
    word = re.sub(r"[\s.!]+", " ", text).strip().upper()
    if word in STOP_WORDS:
        return "stop"
    if word in START_WORDS:
        return "start"
    return None


# --- choosing a channel ----------------------------------------------------------------------


# Where a tenant gave no phone region, its time zone tells which country's national numbers
# (070-123 45 67) its customers give; numbers with a country code need neither.
_REGION_OF_ZONE = {
    "Europe/Stockholm": "SE", "Europe/Oslo": "NO", "Europe/Copenhagen": "DK", "Europe/Amsterdam": "NL",
    "Europe/Helsinki": "FI", "Europe/Brussels": "BE", "Europe/Berlin": "DE", "Europe/London": "GB", "Atlantic/Reykjavik": "IS",
}


def phone_region(configured: str | None, zone: str | None) -> str | None:
    return configured or _REGION_OF_ZONE.get(zone or "")


@functools.lru_cache(maxsize=65536)  # parsing takes tens of microseconds; a message asks three times
def sms_number(raw: str | None, region: str | None) -> tuple[str | None, str | None]:
    """The customer's number in E.164 form when an SMS can reach it: (number, None); otherwise
    (None, why not). National numbers are read in `region` (ISO 3166, such as SE)."""
    # The reasons name no number: they are logged, and a log holds no customer's details.
    if not raw or not raw.strip():
        return None, None
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        return None, "the phone number is not a phone number"
    kind = phonenumbers.number_type(number)  # UNKNOWN exactly when is_valid_number says no; one match, not two
    if kind == phonenumbers.PhoneNumberType.UNKNOWN:
        return None, "the phone number is not a valid phone number" + ("" if region or raw.lstrip().startswith(("+", "00")) else " (no country code)")
    if kind == phonenumbers.PhoneNumberType.FIXED_LINE:
        return None, "the phone number is a landline, which cannot receive SMS"
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164), None


def recipient(customer: CustomerSnapshot, channel: Channel, region: str | None = None) -> tuple[str | None, str | None]:
    """Where `channel` reaches the customer: (address, None), or (None, why not)."""
    if channel == "sms":
        return sms_number(customer.phone, region)
    if channel == "email":
        return customer.email, None
    a = customer.address
    if a and a.street and a.postcode and customer.name:
        return f"{customer.name}, {a.street}, {a.postcode} {a.city or ''}".strip(), None
    return None, None


@dataclass(frozen=True)
class Route:
    """Send by `channel` (the `index`-th of the request's channels) to `to`."""

    index: int
    channel: Channel
    to: str


@dataclass(frozen=True)
class Withheld:
    """Nothing goes out: `status` is `suppressed` (opt-out, consent) or `failed` (unreachable)."""

    status: Literal["suppressed", "failed"]
    reason: str


def choose_route(
    customer: CustomerSnapshot, channels: list[Channel], start: int, *,
    marketing: bool, consent: bool | None, sms_opted_out: bool, region: str | None = None,
) -> Route | Withheld:
    """The first channel from `start` on that reaches the customer and may be used."""
    if marketing and not consent:
        return Withheld("suppressed", "marketing message and the customer has not consented to marketing")
    skipped: list[str] = []
    for index in range(start, len(channels)):
        channel = channels[index]
        to, why_not = recipient(customer, channel, region)
        if to is None:
            skipped.append(why_not or f"no {channel} contact")
        elif channel == "sms" and sms_opted_out:
            skipped.append("the customer answered STOP to SMS from this tenant")
        else:
            return Route(index, channel, to)
    if any("STOP" in s for s in skipped):
        return Withheld("suppressed", "; ".join(skipped))
    return Withheld("failed", "the customer cannot be reached by any remaining channel of the request" + (f" ({'; '.join(skipped)})" if skipped else ""))


# --- quiet hours -----------------------------------------------------------------------------


def quiet_until(now: datetime, zone: str, start: time, end: time) -> datetime | None:
    """The instant quiet hours end, if `now` falls in them in the tenant's zone (they may span
    midnight, as the default 21:00–08:00 does); None when SMS may go now."""
    if start == end:
        return None
    tz = ZoneInfo(zone)
    local = now.astimezone(tz)
    t = local.time().replace(tzinfo=None)
    spans_midnight = start > end
    quiet = (t >= start or t < end) if spans_midnight else (start <= t < end)
    if not quiet:
        return None
    end_day = local.date() + timedelta(days=1) if spans_midnight and t >= start else local.date()
    return datetime.combine(end_day, end, tzinfo=tz)


# --- after a provider call -------------------------------------------------------------------


@dataclass(frozen=True)
class RetryPolicy:
    attempts_per_provider: int = 3
    first_backoff_seconds: float = 2.0
    max_backoff_seconds: float = 600.0
    window: timedelta | None = None  # None: until the message's valid_until, else DEFAULT_RETRY_WINDOW

    def backoff(self, failures: int) -> timedelta:
        """The wait after the `failures`-th failed call: doubling, capped."""
        return timedelta(seconds=min(self.first_backoff_seconds * 2 ** min(failures - 1, 40), self.max_backoff_seconds))

    def deadline(self, first_failure: datetime, valid_until: datetime | None) -> datetime:
        """Until when a message whose first call failed at `first_failure` is retried: never
        past its `valid_until`, where it has one."""
        if self.window is None:
            return valid_until or first_failure + DEFAULT_RETRY_WINDOW
        until = first_failure + self.window
        return min(until, valid_until) if valid_until else until


DEFAULT_RETRY_WINDOW = timedelta(hours=24)
"""How long a message without a `valid_until` is retried while its providers fail: a reminder a
day late is still worth having, a provider down for longer is an incident for people."""


@dataclass(frozen=True)
class RetryLater:
    at: datetime
    attempts: int
    provider_index: int


@dataclass(frozen=True)
class NextProvider:
    provider_index: int


@dataclass(frozen=True)
class ChannelFailed:
    gave_up: str | None = None  # why retrying stopped, where it did


def after_failure(
    *, attempts: int, failures: int, provider_index: int, provider_count: int, retryable: bool, policy: RetryPolicy,
    now: datetime, retry_until: datetime,
) -> RetryLater | NextProvider | ChannelFailed:
    """`attempts` counts failed calls to the current provider, `failures` to any provider, this
    one included. A transient failure (5xx, timeout, connection refused) is retried on the same
    provider after a growing pause; after `attempts_per_provider` failures, or at once for a
    refusal (4xx), the next provider takes over; after the last one the first comes again after
    a pause. Retrying stops at `retry_until`, when the message can no longer serve its purpose;
    a refusal by the last provider fails the channel at once."""
    retry_at = now + policy.backoff(failures)
    in_time = retry_at <= retry_until
    if retryable and attempts < policy.attempts_per_provider and in_time:
        return RetryLater(retry_at, attempts, provider_index)
    if provider_index + 1 < provider_count and now < retry_until:
        return NextProvider(provider_index + 1)
    if retryable and in_time:
        return RetryLater(retry_at, 0, 0)
    if not retryable:
        return ChannelFailed()
    return ChannelFailed(f"gave up after {failures} failed attempts: no retry is left before {retry_until.isoformat()}, "
                         "after which the message no longer serves its purpose")


# --- delivery reports and answers ------------------------------------------------------------


@dataclass(frozen=True)
class DeliveryReport:
    """A provider's news of a message it took."""

    provider: str
    provider_message_id: str
    status: Literal["sent", "delivered", "failed"]
    at: datetime
    reason: str | None = None


@dataclass(frozen=True)
class InboundMessage:
    """A customer's SMS or e-mail as a provider handed it over."""

    provider: str
    provider_message_id: str
    sender: str
    recipient: str
    text: str
    received_at: datetime
    channel: Literal["sms", "email"] = "sms"


_RANK = {"waiting": 0, "queued": 0, "sending": 1, "sent": 2, "delivered": 3, "failed": 3, "suppressed": 3, "withdrawn": 3}
FINAL = frozenset({"delivered", "failed", "suppressed", "withdrawn"})


def report_moves(current: str, reported: str) -> bool:
    """Whether a provider's report changes a message: only forward, never out of a final status.
    Providers retry and reorder reports; the same report twice moves nothing the second time."""
    return current not in FINAL and _RANK[reported] > _RANK[current]


def cost(segments: int, price_per_segment: Decimal) -> Decimal:
    """What a delivered SMS costs the payer."""
    return (price_per_segment * segments).quantize(Decimal("0.0001"))


def sms_too_long(segments: int, most: int) -> str | None:
    """Why an SMS of `segments` segments is not sent (each is billed; a text that long is a
    mistake, not a message), or None."""
    if segments > most:
        return f"the SMS text takes {segments} segments, more than the {most} an SMS may take"
    return None
