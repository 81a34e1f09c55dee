"""Booking rules, free of I/O: the one state machine every change of state goes through, a
tenant's settings, when reminders fall in the tenant's zone, and the messages each step asks for.

Flow A (seed 000, confirmation flow):  unconfirmed -> confirmed | cancelled (rebooked, released)
Flow B (seed 002, letter booking):     planned -> ready-for-print -> awaiting-response
                                        -> ready-for-execution | manual-follow-up <-> on-hold
Flow "none":                           booked
Every flow ends:                       completed | no-show | cancelled | deleted (kept, flagged, never active)
"""
from __future__ import annotations

import secrets
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import phonenumbers
from pydantic import TypeAdapter

from bookflow_contracts import BOOKING_STATES, ENDED_STATES
from bookflow_contracts import WORK_LIST_STATES as CONTRACT_WORK_LIST_STATES
from bookflow_contracts import (
    Address,
    BookingCreated,
    BookingSnapshot,
    CancelTimersWithPrefix,
    CatalogService,
    CatalogUpdated,
    CustomerSnapshot,
    CustomerUpdated,
    Message,
    OrderTransitioned,
    SendNotification,
    SetTimer,
    Subject,
    TenantUpdated,
    WithdrawNotifications,
    WorkLine,
    booking_key,
)

# --- states ----------------------------------------------------------------------------------

UNCONFIRMED = "unconfirmed"
CONFIRMED = "confirmed"
BOOKED = "booked"
PLANNED = "planned"
READY_FOR_PRINT = "ready-for-print"
AWAITING_RESPONSE = "awaiting-response"
READY_FOR_EXECUTION = "ready-for-execution"
MANUAL_FOLLOW_UP = "manual-follow-up"
ON_HOLD = "on-hold"
CANCELLED = "cancelled"
COMPLETED = "completed"
NO_SHOW = "no-show"
DELETED = "deleted"

STATES = BOOKING_STATES  # named in the contracts, so consumers of order.transitioned know them
WORK_LIST_STATES = CONTRACT_WORK_LIST_STATES
"""What a technician sees (A5, B8): bookings the customer confirmed, or that need no confirming."""
FLOWS = ("confirmation", "letter", "none")
FIRST_STATE = {"confirmation": UNCONFIRMED, "letter": PLANNED, "none": BOOKED}


class InvalidBooking(ValueError):
    """The booking request breaks a rule; the message says which."""


class TransitionNotAllowed(ValueError):
    """The transition does not start from the booking's state; nothing was changed."""


@dataclass(frozen=True)
class Transition:
    """A named move; `moves` maps each state it may start from to where it leads."""

    name: str
    moves: Mapping[str, str]


def _to(target: str, *sources: str) -> dict[str, str]:
    return {s: target for s in sources}


_ACTIVE = tuple(s for s in STATES if s not in ENDED_STATES)
"""States a booking can still move on from; cancelled, completed, no-show and deleted are ends."""
TRANSITIONS: dict[str, Transition] = {
    t.name: t
    for t in (
        Transition("confirm", _to(CONFIRMED, UNCONFIRMED)),  # A2: the customer confirms on My pages
        Transition("rebook", _to(CANCELLED, UNCONFIRMED, CONFIRMED, BOOKED)),  # A2: the old booking of a rebooking
        Transition("release", _to(CANCELLED, UNCONFIRMED)),  # A4: still unconfirmed at the deadline
        Transition("cancel", _to(CANCELLED, *_ACTIVE)),
        Transition("complete", _to(COMPLETED, *_ACTIVE)),  # the visit took place (E4: "completed")
        Transition("no-show", _to(NO_SHOW, *_ACTIVE)),  # the customer did not come, or was not home (E4)
        # Deleted by staff: kept and flagged, never shown as active (E4: "deleted"); a mistake, so from any state.
        Transition("delete", _to(DELETED, *(s for s in STATES if s != DELETED))),
        Transition("lock", _to(READY_FOR_PRINT, PLANNED)),  # B1
        Transition("print-letter", _to(AWAITING_RESPONSE, READY_FOR_PRINT)),  # B2 (PC_TRANSITION_PRINTED)
        Transition("send-booking-sms", _to(AWAITING_RESPONSE, READY_FOR_PRINT)),  # B2 by SMS instead of letter
        Transition("accept-reply", _to(READY_FOR_EXECUTION, AWAITING_RESPONSE, MANUAL_FOLLOW_UP)),  # B3 "OK"
        Transition("reply-needs-follow-up", _to(MANUAL_FOLLOW_UP, AWAITING_RESPONSE, READY_FOR_EXECUTION)),  # B3
        Transition("no-answer", _to(MANUAL_FOLLOW_UP, AWAITING_RESPONSE)),  # B4
        Transition("follow-up-manually", _to(MANUAL_FOLLOW_UP, AWAITING_RESPONSE)),  # B5
        Transition("send-to-execution", _to(READY_FOR_EXECUTION, MANUAL_FOLLOW_UP)),  # B7, no SMS
        Transition("confirm-by-sms", _to(READY_FOR_EXECUTION, MANUAL_FOLLOW_UP)),  # B7, booking confirmation SMS
        Transition("put-on-hold", _to(ON_HOLD, MANUAL_FOLLOW_UP)),  # B7
        Transition("resume", _to(MANUAL_FOLLOW_UP, ON_HOLD)),
        # A new time asks the customer again (flow A) or goes back to the planner's desk (flow B).
        Transition("reschedule", {UNCONFIRMED: UNCONFIRMED, CONFIRMED: UNCONFIRMED, BOOKED: BOOKED,
                                  MANUAL_FOLLOW_UP: MANUAL_FOLLOW_UP, ON_HOLD: MANUAL_FOLLOW_UP}),
    )
}


DESK = ("receptionist", "planner")
"""Who works with customers and their bookings at the desk (administrators always may)."""
TRANSITION_ROLES: dict[str, tuple[str, ...]] = {
    "confirm": DESK, "cancel": DESK, "delete": DESK,
    "follow-up-manually": ("planner",), "send-to-execution": ("planner",), "confirm-by-sms": ("planner",), "resume": ("planner",),
    "complete": (*DESK, "technician"), "no-show": (*DESK, "technician"),  # the technician at the door knows
}
"""Who may make each move staff make by hand; flow B's follow-up is the planner's (B5, B7)."""


def next_state(state: str, transition: str) -> str:
    """Where `transition` leads from `state`; TransitionNotAllowed if it does not start there."""
    move = TRANSITIONS.get(transition)
    if move is None:
        raise TransitionNotAllowed(f"there is no transition {transition!r}")
    if state not in move.moves:
        allowed = ", ".join(sorted(move.moves))
        raise TransitionNotAllowed(f"cannot {transition} a booking that is {state} (only from: {allowed})")
    return move.moves[state]


# --- tenants ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Tenant:
    """A business and how its bookings are followed up. Timings are durations, so a test tenant
    can run a whole flow in seconds; what a tenant's administrator leaves out gets these defaults."""

    id: str
    name: str = ""
    time_zone: str = "Europe/Stockholm"
    language: str = "sv"
    flow: str = "none"
    reminder_before: timedelta = timedelta(days=10)  # A3: "senast 10 dagar innan"
    release_after_reminder: timedelta = timedelta(days=3)  # A4
    letter_response_time: timedelta = timedelta(days=14)  # B4, letter booking
    sms_response_time: timedelta = timedelta(days=2)  # B4, SMS booking
    appointment_reminder_at: time = time(18, 0)  # B6: the day before at this local time
    letter_folder: str | None = None
    channels: tuple[str, ...] = ("sms", "email", "letter")
    reply_number: str | None = None
    phone: str | None = None  # how customers reach the business, said in messages and on My pages (X10)
    email: str | None = None
    website: str | None = None

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)

    def updated_event(self) -> TenantUpdated:
        return TenantUpdated(
            tenant_id=self.id, name=self.name, time_zone=self.time_zone, language=self.language,
            settings={
                "flow": self.flow, "reminder_before": _iso(self.reminder_before),
                "release_after_reminder": _iso(self.release_after_reminder),
                "letter_response_time": _iso(self.letter_response_time),
                "sms_response_time": _iso(self.sms_response_time),
                "appointment_reminder_at": self.appointment_reminder_at.isoformat(),
                "letter_folder": self.letter_folder, "channels": list(self.channels), "reply_number": self.reply_number,
                "phone": self.phone, "email": self.email, "website": self.website,
            },
        )


_DURATION = TypeAdapter(timedelta)


def _iso(delta: timedelta) -> str:
    """A duration as ISO 8601 (P10D, PT30S, P1DT2H), as pydantic writes it."""
    return _DURATION.dump_python(delta, mode="json")


# --- time in the tenant's zone ---------------------------------------------------------------


def shift(instant: datetime, delta: timedelta, zone: ZoneInfo) -> datetime:
    """`instant` moved by `delta`, whole days counted on the tenant's wall clock: "10 days before
    09:00" is 09:00 local ten days earlier, also across a daylight-saving change; the part of
    `delta` under a day is elapsed time."""
    days = timedelta(days=delta.days) if delta >= timedelta(0) else -timedelta(days=(-delta).days)
    rest = delta - days
    local = instant.astimezone(zone)
    moved = datetime.combine(local.date() + days, local.time(), tzinfo=zone)
    return (moved + rest).astimezone(UTC) if rest else moved.astimezone(UTC)


def day_before_at(instant: datetime, at: time, zone: ZoneInfo) -> datetime:
    """The day before `instant` (in the tenant's zone) at the local time `at` (B6)."""
    local_day = instant.astimezone(zone).date() - timedelta(days=1)
    return datetime.combine(local_day, at, tzinfo=zone).astimezone(UTC)


def local_day_bounds(day: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """The instants a local calendar day starts and ends."""
    start = datetime.combine(day, time(0), tzinfo=zone)
    return start.astimezone(UTC), datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone).astimezone(UTC)


# --- customers and bookings ------------------------------------------------------------------


class InvalidCustomer(ValueError):
    """Customer details that break a rule (a phone number that is none); the message says which."""


CONSENT_SOURCES = ("staff", "my-pages", "check-in")
CUSTOMER_FIELDS = ("name", "phone", "email", "language", "preferred_channel", "address", "customer_number")
"""What `customer.updated` names when it changes (besides `marketing_consent`)."""


@dataclass(frozen=True)
class Customer:
    """One customer of one tenant, the same for every booking of theirs."""

    id: uuid.UUID
    name: str
    phone: str | None
    email: str | None
    language: str | None
    preferred_channel: str | None = None  # sms, email or letter (X3); the others are fallbacks
    address: Address | None = None  # postal address, for letters
    customer_number: str | None = None  # the business's own number for the customer
    marketing_consent: bool | None = None  # None: never recorded
    consent_changed_at: datetime | None = None
    consent_source: str | None = None  # staff, my-pages, check-in

    def snapshot(self, address: Address | None = None) -> CustomerSnapshot:
        """As messages carry it; `address` is where a letter goes when the customer has no postal address."""
        return CustomerSnapshot(
            customer_id=self.id, name=self.name, phone=self.phone, email=self.email, language=self.language,
            preferred_channel=self.preferred_channel, address=self.address or address, customer_number=self.customer_number,
        )


def changed_fields(before: Customer, after: Customer) -> list[str]:
    """Which of the customer's fields differ, as `customer.updated` names them."""
    changed = [f for f in CUSTOMER_FIELDS if getattr(before, f) != getattr(after, f)]
    if before.marketing_consent != after.marketing_consent:
        changed.append("marketing_consent")
    return changed


def with_consent(customer: Customer, consent: bool, source: str, at: datetime) -> Customer:
    """The customer with consent given or withdrawn (when and how); unchanged when it already was."""
    if customer.marketing_consent is consent:
        return customer
    return replace(customer, marketing_consent=consent, consent_changed_at=at, consent_source=source)


def customer_updated(customer: Customer, changed: list[str], *, actor: str, request_id: uuid.UUID | None = None) -> CustomerUpdated:
    """`customer.updated`: the customer as they are now, what changed (empty: new) and who changed it."""
    return CustomerUpdated(
        customer=customer.snapshot(), marketing_consent=customer.marketing_consent, consent_changed_at=customer.consent_changed_at,
        consent_source=customer.consent_source, changed_fields=changed, actor=actor, request_id=request_id,
    )


# Where a tenant's customers give national numbers (070-123 45 67), its time zone tells which
# country they are read in (as the notification service reads them); numbers with a country
# code need none.
_REGION_OF_ZONE = {
    "Europe/Stockholm": "SE", "Europe/Oslo": "NO", "Europe/Copenhagen": "DK", "Europe/Amsterdam": "NL",
    "Europe/Helsinki": "FI", "Europe/Brussels": "BE", "Europe/Berlin": "DE", "Europe/London": "GB", "Atlantic/Reykjavik": "IS",
}


def e164(raw: str | None, time_zone: str) -> str | None:
    """A phone number in E.164 form (+46701234567), national numbers read in the tenant's
    country; None for none; InvalidCustomer for what is not a phone number."""
    if raw is None or not raw.strip():
        return None
    region = _REGION_OF_ZONE.get(time_zone)
    hint = "" if region or raw.lstrip().startswith(("+", "00")) else " (give it with its country code, such as +46)"
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidCustomer(f"{raw!r} is not a phone number{hint}") from exc
    if not phonenumbers.is_valid_number(number):
        raise InvalidCustomer(f"{raw!r} is not a valid phone number{hint}")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


@dataclass(frozen=True)
class Booking:
    """A booking, or in flow B a work order."""

    id: uuid.UUID
    tenant_id: str
    customer: Customer
    service: str
    starts_at: datetime
    ends_at: datetime
    place: Address | None
    state: str
    flow: str = "none"
    technician_id: uuid.UUID | None = None
    sequence: int | None = None
    slot_id: uuid.UUID | None = None
    booking_code: str | None = None
    version: int = 0
    rebooked_from: uuid.UUID | None = None
    hold_until: date | None = None
    short_code: str | None = None  # the typeable key of the short My pages link, /l/<code> (letters)
    work_lines: tuple[WorkLine, ...] = ()  # the planned work (C2)
    subject: Subject | None = None  # what the work is on: a vehicle, a meter, a chart
    extra_info: str | None = None  # printed on the notice (A1)
    source: str = "staff"  # staff, my-pages-rebook, online-booking, book-again, recall-auto-book (D5, E4)
    source_ref: str | None = None  # the reminder, recall or booking that made it

    @property
    def estimate(self) -> timedelta:
        return self.ends_at - self.starts_at

    def snapshot(self) -> BookingSnapshot:
        """The booking as other services keep it, carried by every `order.transitioned`."""
        return BookingSnapshot(
            booking_id=self.id, customer_id=self.customer.id, service=self.service, starts_at=self.starts_at,
            ends_at=self.ends_at, technician_id=self.technician_id, state=self.state, flow=self.flow,
            version=self.version, source=self.source,
        )


VIA = {"my-pages-rebook": "via My pages rebooking", "online-booking": "via online booking",
       "book-again": "via book-again reminder", "recall-auto-book": "via recall auto-book", "recall": "via recall"}
"""How staff see where a booking came from (D5: "via book-again reminder")."""


@dataclass(frozen=True)
class Slot:
    """A bookable time, of one service and maybe one technician; taken when `booking_id` is set."""

    id: uuid.UUID
    tenant_id: str
    technician_id: uuid.UUID | None
    service: str
    starts_at: datetime
    ends_at: datetime
    booking_id: uuid.UUID | None = None


def new_booking(tenant: Tenant, customer: Customer, service: str, starts_at: datetime, ends_at: datetime,
                place: Address | None, *, now: datetime, technician_id: uuid.UUID | None = None,
                slot_id: uuid.UUID | None = None, sequence: int | None = None, rebooked_from: uuid.UUID | None = None,
                flow: str | None = None, record_only: bool = False, work_lines: Sequence[WorkLine] = (),
                subject: Subject | None = None, extra_info: str | None = None, source: str = "staff",
                source_ref: str | None = None) -> Booking:
    """A new booking in the first state of the tenant's flow.

    A booking must start in the future: a notice and "confirm or it will be cancelled" for a
    visit eight months ago only confuses the customer (issue 9, finding 9). Staff who record a
    visit that took place say so (`record_only`): it is stored as completed, and nothing is
    sent for it and no timer is set (see `on_entry`)."""
    if ends_at <= starts_at:
        raise InvalidBooking("the booking must end after it starts")
    if record_only:
        if starts_at > now:
            raise InvalidBooking("only a visit that already took place can be recorded without messages (record_only)")
    elif starts_at < now:
        raise InvalidBooking(f"the booking starts in the past ({starts_at.isoformat()}); to record a visit that "
                             "took place without messaging the customer, send record_only: true")
    if not (customer.phone or customer.email or (place and place.street) or (customer.address and customer.address.street)):
        raise InvalidBooking("the customer needs a phone number, an e-mail address or a postal address")
    flow = flow or tenant.flow
    state = COMPLETED if record_only else FIRST_STATE[flow]
    return Booking(uuid.uuid4(), tenant.id, customer, service, starts_at, ends_at, place, state, flow,
                   technician_id, sequence, slot_id, rebooked_from=rebooked_from, short_code=new_short_code(),
                   work_lines=tuple(work_lines), subject=subject, extra_info=extra_info, source=source, source_ref=source_ref)


def missing_for_letter(booking: Booking) -> list[str]:
    """What a booking letter needs and the order lacks (B1); empty when it can be locked."""
    place = booking.place or Address()
    missing = [what for what, value in (("street address", place.street), ("postcode", place.postcode),
                                        ("customer name", booking.customer.name.strip())) if not value]
    if booking.technician_id is None:
        missing.append("technician")
    return missing


_CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read aloud and typed on a phone


def new_booking_code(choose: Callable[[str], str] = secrets.choice, length: int = 8) -> str:
    """A hard-to-guess booking code (32^8, about 10^12 possibilities) for replies by SMS (B1)."""
    return "".join(choose(_CODE_ALPHABET) for _ in range(length))


SHORT_CODE_LENGTH = 12


def new_short_code(choose: Callable[[str], str] = secrets.choice) -> str:
    """The key of a booking's short My pages link: 12 characters of the booking-code alphabet
    (32^12, about 10^18), so guessing one among a million live bookings takes about 10^12 tries."""
    return "".join(choose(_CODE_ALPHABET) for _ in range(SHORT_CODE_LENGTH))


def short_code_text(code: str) -> str:
    """`K7Q2MX9PAB3D` as it is printed and typed: `K7Q2-MX9P-AB3D`."""
    return "-".join(code[i:i + 4] for i in range(0, len(code), 4))


def short_code_of(typed: str) -> str | None:
    """The code a customer typed, in any case, with or without dashes and spaces; None if it
    cannot be one."""
    code = "".join(ch for ch in typed.upper() if ch not in "- ")
    return code if len(code) == SHORT_CODE_LENGTH and all(ch in _CODE_ALPHABET for ch in code) else None


def short_link(my_pages_url: str, booking: Booking) -> str | None:
    """The short form of the booking's My pages link, served beside it (`<public url>/l/<code>`)."""
    if not booking.short_code or "/my/" not in my_pages_url:
        return None
    return f"{my_pages_url.rsplit('/my/', 1)[0]}/l/{short_code_text(booking.short_code)}"


# --- replies (B3) ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Reply:
    code: str
    answer: str


def parse_reply(text: str) -> Reply | None:
    """`CODE message`: the code first, then the answer. None when the text has no code at all."""
    parts = text.strip().split(maxsplit=1)
    if not parts:
        return None
    return Reply(parts[0].upper(), parts[1] if len(parts) > 1 else "")


def reply_transition(answer: str) -> str:
    """Exactly "OK" (case and surrounding blanks aside) accepts; "KONTAKT", "Ok!!" or anything
    else needs a person (seed 002, "Respons fra kunde")."""
    return "accept-reply" if answer.strip().upper() == "OK" else "reply-needs-follow-up"


UNKNOWN_CODES_PER_SENDER = 10
"""Replies with a code that matches no order one sender may send in `GUESS_WINDOW`; after that,
their replies are kept for the planner but move no order (issue 10, finding 5): 32^8 codes are
not guessed in ten tries, a script trying thousands is stopped."""
GUESS_WINDOW = timedelta(hours=1)


def from_the_customer(booking: Booking, channel: str, sender: str) -> bool:
    """True when a reply comes from the order's own phone (or e-mail address): a right code from
    anyone else needs a person, however right the answer (issue 10, finding 5)."""
    if channel == "email":
        return bool(booking.customer.email) and booking.customer.email.strip().lower() == sender.strip().lower()
    return bool(booking.customer.phone) and _digits(booking.customer.phone) == _digits(sender)


def _digits(number: str) -> str:
    return "".join(c for c in number if c.isdigit())


def reply_move(booking: Booking, reply: Reply, channel: str, sender: str) -> tuple[str, str]:
    """The transition a reply asks for and the reason kept with it (B3)."""
    if not from_the_customer(booking, channel, sender):
        return "reply-needs-follow-up", f"replied {reply.answer.strip()!r} from another number or address than the order's"
    return reply_transition(reply.answer), f"replied {reply.answer.strip()!r}"


# --- what each step asks of other services ---------------------------------------------------


@dataclass(frozen=True)
class Step:
    """One state change with everything it needs published."""

    booking: Booking
    transition: OrderTransitioned
    messages: list[Message] = field(default_factory=list)


def timer_prefix(booking_id: uuid.UUID) -> str:
    return f"booking:{booking_id}:"


def timer(booking: Booking, name: str, due_at: datetime) -> SetTimer:
    """A timer handed back as `reminder.due`; the payload says which state and version it was
    set for, so a firing after any later change is recognised and sends nothing."""
    return SetTimer(
        timer_key=f"booking:{booking.id}:{name}", due_at=due_at,
        payload={"booking_id": str(booking.id), "kind": name, "state": booking.state, "version": booking.version},
    )


def still_meant(booking: Booking, payload: Mapping) -> bool:
    """True when a fired timer still fits the booking: nothing changed since it was set."""
    return booking.state == payload.get("state") and booking.version == payload.get("version")


def reachable(customer: Customer, place: Address | None) -> dict[str, bool]:
    """Which channels can reach the customer at all: a phone, an e-mail address, a postal address."""
    postal = customer.address or place
    return {"sms": bool(customer.phone), "email": bool(customer.email), "letter": bool(postal and postal.street)}


def channel_order(customer: Customer, place: Address | None, tenant: Tenant, fallbacks: Iterable[str]) -> list[str]:
    """The channels to try, in order (X3): the customer's preferred channel first, then the
    other channels of `fallbacks` (the template's own order, among the tenant's channels) that
    reach the customer. A template that makes sense on one channel only (an order letter, a
    booking SMS) passes just that one, and keeps it. When nothing reaches the customer, the
    order stays, and the notification service says why each channel failed."""
    fallbacks = list(fallbacks)
    usable = [c for c in fallbacks if c in tenant.channels] or fallbacks
    preferred = customer.preferred_channel
    order = ([preferred] if preferred in usable else []) + [c for c in usable if c != preferred]
    can = reachable(customer, place)
    return [c for c in order if can[c]] or order


def notification(booking: Booking, template: str, channels: Iterable[str], data: dict, *, tenant: Tenant,
                 valid_until: datetime | None = None) -> SendNotification:
    """Ask for `template` by the channels it may go by (`channel_order`: preferred first); the
    key makes the same step of the same version send once.

    Every request names the booking version it was asked for (`regarding_version`), so the
    withdrawal the next state change publishes stops it while it waits (issue 9, finding 1), and
    carries `valid_until`, after which it serves no purpose: by default the appointment's start
    (a notice, a reminder or a confirmation of a visit that has begun tells the customer nothing
    they can act on); requests with an earlier deadline of their own pass it."""
    return SendNotification(
        idempotency_key=f"booking:{booking.id}:v{booking.version}:{template}",
        customer=booking.customer.snapshot(booking.place),
        channels=channel_order(booking.customer, booking.place, tenant, channels),
        template_key=template,
        data={"service": booking.service, "starts_at": booking.starts_at.isoformat(), "booking_id": str(booking.id), **data},
        booking_id=booking.id,
        regarding=booking_key(booking.id),
        regarding_version=booking.version,
        valid_until=min(valid_until, booking.starts_at) if valid_until else booking.starts_at,
    )


def withdrawal(after: Booking, transition: str) -> WithdrawNotifications:
    """Withdraw every request of the booking asked for before its new version: whatever was
    meant for the old state (a reminder to confirm a booking now confirmed) must not go out,
    however long it waited in a queue. Keyed like the requests, so it comes after them."""
    return WithdrawNotifications(
        regarding=booking_key(after.id), before_version=after.version, booking_id=after.id,
        reason=f"the booking moved on ({transition}: now {after.state})",
    )


def place_text(place: Address | None) -> str:
    if place is None:
        return ""
    return ", ".join(p for p in (place.street, " ".join(x for x in (place.postcode, place.city) if x)) if p)


def created_event(booking: Booking) -> BookingCreated:
    """`booking.created`: the customer (their id is the same for all their bookings), the work,
    what it is on, the extra information, and where the booking came from."""
    return BookingCreated(
        booking_id=booking.id, customer=booking.customer.snapshot(booking.place), service=booking.service,
        starts_at=booking.starts_at, ends_at=booking.ends_at, place=booking.place, state=booking.state,
        resource_id=booking.technician_id, flow=booking.flow, booking_version=booking.version,
        work_lines=list(booking.work_lines), subject=booking.subject, extra_info=booking.extra_info,
        source=booking.source, source_ref=booking.source_ref, rebooked_from=booking.rebooked_from,
    )


def on_entry(booking: Booking, tenant: Tenant, transition: str, now: datetime, my_pages_url: str) -> list[Message]:
    """What a booking asks for when it enters its state by `transition` (or by creation). A
    completed booking (a visit staff recorded after the fact) asks for nothing."""
    place = place_text(booking.place)
    if booking.state in ENDED_STATES and transition not in ("release",):
        return []
    if booking.state in (UNCONFIRMED, BOOKED) and transition in ("create", "reschedule"):
        # `needs_confirmation`: only a booking the customer must confirm asks "confirm or rebook" (A1);
        # in a tenant without the confirmation flow My pages only shows the booking and lets it be moved.
        notice = notification(booking, "booking-notice", ("letter", "sms", "email") if booking.state == UNCONFIRMED
                              else tenant.channels, {"place": place, "my_pages_url": my_pages_url,
                                                     "my_pages_short_url": short_link(my_pages_url, booking),
                                                     "needs_confirmation": booking.state == UNCONFIRMED,
                                                     "extra_info": booking.extra_info}, tenant=tenant)
        if booking.state == BOOKED:
            return [notice]
        reminder_at = max(shift(booking.starts_at, -tenant.reminder_before, tenant.zone), now)
        return [notice, timer(booking, "confirm-reminder", reminder_at)]  # A1, A3
    if transition in ("print-letter", "send-booking-sms"):
        letter = transition == "print-letter"
        wait = tenant.letter_response_time if letter else tenant.sms_response_time
        data = {"place": place, "booking_code": booking.booking_code, "reply_number": tenant.reply_number or "",
                "extra_info": booking.extra_info}
        # "Reply with the code" serves until the answer is due: then a person calls instead (B4).
        return [notification(booking, "order-letter", ["letter"] if letter else ["sms"], data, tenant=tenant,
                             valid_until=now + wait),
                timer(booking, "booking-reminder", now + wait)]  # B2, B4
    if booking.state == READY_FOR_EXECUTION:
        asked: list[Message] = []
        if transition == "confirm-by-sms":
            asked.append(notification(booking, "booking-confirmation", ["sms"], {"place": place}, tenant=tenant))
        remind_at = day_before_at(booking.starts_at, tenant.appointment_reminder_at, tenant.zone)
        if booking.starts_at > now:
            asked.append(timer(booking, "appointment-reminder", max(remind_at, now)))  # B6
        return asked
    if transition == "release":
        return [notification(booking, "booking-released", tenant.channels, {}, tenant=tenant)]
    if transition == "no-answer" and booking.customer.phone:  # B4: only if the order has a phone number
        data = {"booking_code": booking.booking_code, "reply_number": tenant.reply_number or ""}
        return [notification(booking, "booking-reminder", ["sms"], data, tenant=tenant)]
    return []


def step(booking: Booking, tenant: Tenant, transition: str, *, actor: str, reason: str | None, now: datetime,
         my_pages_url: str, **changes) -> Step:
    """Apply `transition`: the booking after it, the `order.transitioned` event, and the timers
    and messages it asks for. Every step first cancels the booking's pending timers and
    withdraws its requests still waiting at the notification service, so nothing meant for the
    old state is ever sent (and the firing check catches any race)."""
    target = next_state(booking.state, transition)
    after = replace(booking, state=target, version=booking.version + 1, **changes)
    event = OrderTransitioned(booking_id=booking.id, from_state=booking.state, to_state=target,
                              transition=transition, actor=actor, reason=reason, booking=after.snapshot())
    messages: list[Message] = [CancelTimersWithPrefix(prefix=timer_prefix(booking.id)), withdrawal(after, transition)]
    messages += on_entry(after, tenant, transition, now, my_pages_url)
    return Step(after, event, messages)


def reminder_due(booking: Booking, tenant: Tenant, kind: str, due_at: datetime, my_pages_url: str) -> list[Message]:
    """A3: the unconfirmed booking's SMS reminder with the link, and the release timer (A4).
    "Confirm or it will be cancelled" is valid until the release: after it, the booking is gone."""
    if kind != "confirm-reminder":
        return []
    release_at = shift(due_at, tenant.release_after_reminder, tenant.zone)
    reminder = notification(booking, "confirm-reminder", ["sms", "email"],
                            {"my_pages_url": my_pages_url, "cancel_at": release_at.isoformat()}, tenant=tenant, valid_until=release_at)
    return [reminder, timer(booking, "release", release_at)]


def appointment_reminder(booking: Booking, tenant: Tenant) -> SendNotification:
    """B6: the day before the appointment."""
    return notification(booking, "appointment-reminder", ["sms", "email"], {"place": place_text(booking.place)}, tenant=tenant)


# --- the service catalog ---------------------------------------------------------------------


def catalog_updated(tenant_id: str, services: Iterable[CatalogService]) -> CatalogUpdated:
    """The whole catalog, so that a consumer keeps it by replacing what it had."""
    return CatalogUpdated(tenant_id=tenant_id, services=list(services))


def line_from_catalog(line: WorkLine, known: CatalogService | None) -> WorkLine:
    """A planned work line with what the catalog knows filled in where staff left it out."""
    if known is None:
        return line
    return line.model_copy(update={
        "description": line.description or known.name,
        "price_incl_vat": line.price_incl_vat if line.price_incl_vat is not None else known.price_incl_vat,
        "vat_rate": line.vat_rate if line.vat_rate is not None else known.vat_rate,
        "article_number": line.article_number or (known.article_numbers[0] if known.article_numbers else None),
    })


# --- a technician's day ----------------------------------------------------------------------


def make_room(taken: Sequence[tuple[uuid.UUID, int]], position: int) -> dict[uuid.UUID, int]:
    """B7 "order within the technician's day": the order goes to `position`; if another order of
    that day has it, that one and every later one that would collide move one down (gaps absorb
    the shift). `taken` is the day's other orders as (id, sequence). Returns the new sequences
    of the orders that move."""
    moved: dict[uuid.UUID, int] = {}
    occupied = position  # the last sequence now taken
    for booking_id, sequence in sorted(taken, key=lambda t: t[1]):
        if sequence < position:
            continue
        if sequence > occupied:  # a gap: nothing further collides
            break
        occupied += 1
        moved[booking_id] = occupied
    return moved
