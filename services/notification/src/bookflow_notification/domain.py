"""The notification service's rules, free of I/O: which channel a message takes, whether it may
go at all (opt-out, consent), quiet hours, what to do after a provider fails, how a delivery
report moves a message's status, and what a delivered SMS costs."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from decimal import Decimal
from typing import Literal
from zoneinfo import ZoneInfo

import phonenumbers

from bookflow_contracts import Channel, CustomerSnapshot

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
    if not raw or not raw.strip():
        return None, None
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        return None, f"{raw!r} is not a phone number"
    kind = phonenumbers.number_type(number)  # UNKNOWN exactly when is_valid_number says no; one match, not two
    if kind == phonenumbers.PhoneNumberType.UNKNOWN:
        return None, f"{raw!r} is not a valid phone number" + ("" if region or raw.lstrip().startswith(("+", "00")) else " (no country code)")
    if kind == phonenumbers.PhoneNumberType.FIXED_LINE:
        return None, f"{raw!r} is a landline, which cannot receive SMS"
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
    tz = ZoneInfo(zone)
    local = now.astimezone(tz)
    t = local.time().replace(tzinfo=None)
    if start == end:
        return None
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
    max_backoff_seconds: float = 300.0

    def backoff(self, attempt: int) -> timedelta:
        return timedelta(seconds=min(self.first_backoff_seconds * 2 ** (attempt - 1), self.max_backoff_seconds))


@dataclass(frozen=True)
class RetryLater:
    at: datetime
    attempts: int


@dataclass(frozen=True)
class NextProvider:
    provider_index: int


@dataclass(frozen=True)
class ChannelFailed:
    pass


def after_failure(
    *, attempts: int, provider_index: int, provider_count: int, retryable: bool, policy: RetryPolicy, now: datetime
) -> RetryLater | NextProvider | ChannelFailed:
    """`attempts` counts failed calls to the current provider, this one included. A transient
    failure (5xx, timeout, connection refused) is retried with backoff on the same provider; after
    too many, or at once for a refusal (4xx), the next provider of the tenant takes over."""
    if retryable and attempts < policy.attempts_per_provider:
        return RetryLater(now + policy.backoff(attempts), attempts)
    if provider_index + 1 < provider_count:
        return NextProvider(provider_index + 1)
    return ChannelFailed()


# --- delivery reports ------------------------------------------------------------------------

_RANK = {"queued": 0, "sending": 1, "sent": 2, "delivered": 3, "failed": 3, "suppressed": 3}
FINAL = frozenset({"delivered", "failed", "suppressed"})


def report_moves(current: str, reported: str) -> bool:
    """Whether a provider's report changes a message: only forward, never out of a final status.
    Providers retry and reorder reports; the same report twice moves nothing the second time."""
    return current not in FINAL and _RANK[reported] > _RANK[current]


def cost(segments: int, price_per_segment: Decimal) -> Decimal:
    """What a delivered SMS costs the payer."""
    return (price_per_segment * segments).quantize(Decimal("0.0001"))
