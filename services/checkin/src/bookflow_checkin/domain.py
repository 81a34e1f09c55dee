"""Check-in rules, free of I/O: when the link goes out and by which channels, how the projection
of a booking takes events in whatever order they come, what handling an item means, how the
receptionist's list is ordered, and how bad link attempts are counted.

Seed 001 (a car workshop's online check-in) is the source of the rules; its Dutch words are
quoted where a rule comes from them.
"""
from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bookflow_contracts import (
    ENDED_STATES, Address, BookingCreated, BookingSnapshot, CancelTimer, CatalogService, Channel, CustomerSnapshot, Message,
    SetTimer, Subject, WithdrawNotifications, WorkLine,
)

DEFAULT_LINK_BEFORE = timedelta(days=3)
"""Seed 001: "Standaard ontvangen klanten 3 dagen vóór de afspraak een e-mail of SMS"."""

ItemKind = Literal["accepted-service", "contact-request", "comment"]
ItemState = Literal["unhandled", "handled", "converted"]
Choice = Literal["none", "accept", "contact"]


def link_timer_key(booking_id: uuid.UUID) -> str:
    return f"checkin:{booking_id}:link"


def regarding(booking_id: uuid.UUID) -> str:
    """What check-in links are about, for withdrawing them (notification's `regarding`)."""
    return f"checkin:{booking_id}"


def zone_of(name: str | None) -> ZoneInfo | None:
    if not name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


# --- what check-in knows of a tenant -------------------------------------------------------


@dataclass(frozen=True)
class Tenant:
    """The tenant as `tenant.updated` and `catalog.updated` told it (either may come first)."""

    tenant_id: str
    name: str | None = None
    time_zone: str | None = None
    language: str | None = None
    contact_phone: str | None = None
    contact_email: str | None = None
    currency: str | None = None
    catalog: tuple[CatalogService, ...] = ()

    @property
    def zone(self) -> ZoneInfo | None:
        return zone_of(self.time_zone)

    @property
    def offered(self) -> tuple[CatalogService, ...]:
        """The optional services of the check-in page (C2)."""
        return tuple(s for s in self.catalog if s.offered_at_checkin)

    def service_name(self, key: str) -> str:
        return next((s.name for s in self.catalog if s.service == key), key)

    def catalog_service(self, key: str) -> CatalogService | None:
        return next((s for s in self.catalog if s.service == key), None)


@dataclass(frozen=True)
class Rules:
    """A tenant's check-in settings (C1). Off until an administrator turns it on: not every
    business checks its customers in."""

    enabled: bool = False
    link_before: timedelta = DEFAULT_LINK_BEFORE
    convert_to_intervention: frozenset[str] = frozenset()
    """Services set to "Omzetten naar interventie": accepted, they become a work line (C5)."""


def link_due_at(starts_at: datetime, before: timedelta, zone: ZoneInfo) -> datetime:
    """When the link goes out: whole days are counted on the tenant's calendar ("3 days before"
    keeps the hour across a change to or from summer time), the rest as elapsed time."""
    local = starts_at.astimezone(zone)
    days = before.days
    rest = before - timedelta(days=days)
    on_the_day = datetime.combine(local.date() - timedelta(days=days), local.timetz().replace(tzinfo=None), tzinfo=zone)
    return (on_the_day.astimezone(UTC) - rest)


def channels_for(customer: CustomerSnapshot) -> list[Channel]:
    """The preferred channel first, then the other of SMS and e-mail (seed: "afhankelijk van
    het voorkeurskanaal"); with no preference, SMS first, as a phone is what most carry."""
    if customer.preferred_channel == "email":
        return ["email", "sms"]
    return ["sms", "email"]


# --- the projection of a booking ------------------------------------------------------------


@dataclass(frozen=True)
class Appointment:
    """A booking as check-in keeps it, from `booking.created` and `order.transitioned` (whichever
    comes first), and what check-in did about it."""

    booking_id: uuid.UUID
    tenant_id: str
    customer_id: uuid.UUID
    service: str
    starts_at: datetime
    ends_at: datetime
    state: str
    version: int
    created_known: bool = False
    customer: CustomerSnapshot | None = None
    customer_at: datetime | None = None
    place: Address | None = None
    work_lines: tuple[WorkLine, ...] = ()
    subject: Subject | None = None
    extra_info: str | None = None
    link_timer_due: datetime | None = None
    link_sent_at: datetime | None = None
    link_sent_start: datetime | None = None
    answered_at: datetime | None = None

    @property
    def ended(self) -> bool:
        return self.state in ENDED_STATES

    def open_for_checkin(self, now: datetime) -> bool:
        """The customer may still change the check-in: the booking stands and has not begun."""
        return not self.ended and self.starts_at > now


def from_created(current: Appointment | None, event: BookingCreated, tenant_id: str, occurred_at: datetime) -> Appointment:
    """Take in `booking.created`. Its booking facts (start, state) lose to a later snapshot that
    came first; its customer, work lines and subject fill in what a snapshot does not carry."""
    customer = event.customer
    if current is not None and current.customer_at is not None and current.customer_at > occurred_at:
        customer = current.customer or customer
    details = dict(created_known=True, customer=customer, customer_at=max(filter(None, (occurred_at, current and current.customer_at))),
                   place=event.place, work_lines=_merge_lines(tuple(event.work_lines), current.work_lines if current else ()),
                   subject=event.subject, extra_info=event.extra_info)
    if current is not None and current.version > event.booking_version:
        return replace(current, **details)
    base = current or Appointment(event.booking_id, tenant_id, event.customer.customer_id, event.service, event.starts_at,
                                  event.ends_at, event.state, event.booking_version)
    return replace(base, customer_id=event.customer.customer_id, service=event.service, starts_at=event.starts_at,
                   ends_at=event.ends_at, state=event.state, version=event.booking_version, **details)


def from_snapshot(current: Appointment | None, snapshot: BookingSnapshot, tenant_id: str) -> Appointment | None:
    """Take in the booking after a change; None when it is not newer than what is known (a
    stale or repeated `order.transitioned`)."""
    if current is not None and current.version >= snapshot.version:
        return None
    base = current or Appointment(snapshot.booking_id, tenant_id, snapshot.customer_id, snapshot.service, snapshot.starts_at,
                                  snapshot.ends_at, snapshot.state, snapshot.version)
    return replace(base, customer_id=snapshot.customer_id, service=snapshot.service, starts_at=snapshot.starts_at,
                   ends_at=snapshot.ends_at, state=snapshot.state, version=snapshot.version)


def _merge_lines(first: tuple[WorkLine, ...], later: tuple[WorkLine, ...]) -> tuple[WorkLine, ...]:
    known = {line.line_id for line in first}
    return first + tuple(line for line in later if line.line_id not in known)


def with_line(appointment: Appointment, line: WorkLine) -> Appointment:
    """A work line booking added at check-in's request (C5)."""
    return replace(appointment, work_lines=_merge_lines(appointment.work_lines, (line,)))


# --- the link timer (C1) --------------------------------------------------------------------


def planned_link(appointment: Appointment, tenant: Tenant | None, rules: Rules, now: datetime) -> datetime | None:
    """When the check-in link should go out, or None when it should not (check-in is off, the
    booking ended or has begun, the link went out for this start, the customer is unknown)."""
    zone = tenant.zone if tenant else None
    if not rules.enabled or zone is None or not appointment.created_known or appointment.ended:
        return None
    if appointment.link_sent_start == appointment.starts_at or appointment.starts_at <= now:
        return None
    return link_due_at(appointment.starts_at, rules.link_before, zone)


@dataclass(frozen=True)
class LinkPlan:
    """What to ask of the scheduler and the notification service after a change, and the
    instant of the link timer that is then set (None: none)."""

    messages: tuple[Message, ...]
    link_timer_due: datetime | None


def replan(before: Appointment | None, after: Appointment, tenant: Tenant | None, rules: Rules, now: datetime) -> LinkPlan:
    """Compare the timer that is set with the one that should be. A reschedule re-arms it (same
    key: the old instant never fires). A booking that ends cancels it and withdraws a link that
    may still wait to go out (the timer may have fired a moment before the cancellation came).
    A link sent for the old start of a moved booking is withdrawn if it still waits, and a new
    one is planned for the new start."""
    messages: list[Message] = []
    key = link_timer_key(after.booking_id)
    if after.ended:
        if before is None or not before.ended:
            if after.link_timer_due is not None:
                messages.append(CancelTimer(timer_key=key))
            if after.link_timer_due is not None or after.link_sent_at is not None:
                messages.append(WithdrawNotifications(regarding=regarding(after.booking_id), before_version=after.version + 1,
                                                      booking_id=after.booking_id, reason="the booking has ended"))
        return LinkPlan(tuple(messages), None)
    moved = before is not None and before.starts_at != after.starts_at
    if moved and after.link_sent_at is not None and after.link_sent_start != after.starts_at:
        messages.append(WithdrawNotifications(regarding=regarding(after.booking_id), before_version=after.version,
                                              booking_id=after.booking_id, reason="the booking was moved"))
    due = planned_link(after, tenant, rules, now)
    if due is None:
        if after.link_timer_due is not None:
            messages.append(CancelTimer(timer_key=key))
        return LinkPlan(tuple(messages), None)
    if due != after.link_timer_due:
        messages.append(SetTimer(timer_key=key, due_at=due, payload={
            "booking_id": str(after.booking_id), "starts_at": after.starts_at.isoformat(), "kind": "link"}))
    return LinkPlan(tuple(messages), due)


def link_still_due(appointment: Appointment | None, tenant: Tenant | None, rules: Rules, timer_payload: dict, now: datetime) -> bool:
    """Whether a fired link timer still holds: the booking stands, its start is the one the timer
    was set for, the link has not gone out for it, and check-in is on."""
    if appointment is None or not rules.enabled or not appointment.created_known or appointment.customer is None:
        return False
    if appointment.ended or appointment.starts_at <= now or appointment.link_sent_start == appointment.starts_at:
        return False
    try:
        planned_start = datetime.fromisoformat(str(timer_payload.get("starts_at")))
    except ValueError:
        return False
    return planned_start == appointment.starts_at and tenant is not None


# --- items (C4, C5, C7) -----------------------------------------------------------------------


@dataclass(frozen=True)
class Item:
    """One thing the receptionist must look at: an accepted service, a request to be contacted
    about a service, or a comment. "Omzetten naar interventie": a converted service leaves the
    check-in section (state `converted`)."""

    item_id: uuid.UUID
    booking_id: uuid.UUID
    kind: ItemKind
    state: ItemState = "unhandled"
    service: str | None = None
    comment_id: uuid.UUID | None = None
    outcome: str | None = None
    handled_at: datetime | None = None
    handled_by: str | None = None
    work_line_id: uuid.UUID | None = None
    work_line: WorkLine | None = None
    work_line_status: str | None = None
    work_line_reason: str | None = None

    @property
    def handled(self) -> bool:
        return self.state != "unhandled"


class CannotHandle(ValueError):
    """The action does not fit the item."""


Action = Literal["handled", "add-intervention", "drop-intervention"]


@dataclass(frozen=True)
class Intervention:
    """A work line the receptionist adds from a comment or an accepted service."""

    service: str
    description: str | None = None
    remark: str | None = None
    price_incl_vat: Decimal | None = None
    vat_rate: Decimal | None = None


@dataclass(frozen=True)
class Handling:
    item: Item
    line: WorkLine | None
    outcome: Literal["handled", "converted-to-intervention", "intervention-dropped"]


def handle(item: Item, action: Action, intervention: Intervention | None, *, actor: str, now: datetime,
           new_id: Callable[[], uuid.UUID] = uuid.uuid4) -> Handling:
    """Handle one item. Seed, step 4: a comment opens the "interventie toevoegen" window filled
    from it; confirming or cancelling it, the item is handled either way. A service set to
    convert becomes a work line and leaves the check-in section; a contact request is handled
    once the customer was called."""
    if item.handled:
        raise CannotHandle("the item is already handled")
    done = dict(handled_at=now, handled_by=actor)
    if action == "handled":
        if item.kind == "comment":
            raise CannotHandle("a comment is handled by adding or dropping the intervention it opens")
        return Handling(replace(item, state="handled", outcome="handled", **done), None, "handled")
    if action == "drop-intervention":
        if item.kind == "contact-request":
            raise CannotHandle("a contact request has no intervention to drop")
        return Handling(replace(item, state="handled", outcome="intervention-dropped", **done), None, "intervention-dropped")
    if item.kind == "contact-request":
        raise CannotHandle("a contact request becomes no intervention; accept the service first")
    if intervention is None:
        raise CannotHandle("give the intervention to add")
    line = WorkLine(line_id=new_id(), service=intervention.service, description=intervention.description,
                    remark=intervention.remark, price_incl_vat=intervention.price_incl_vat, vat_rate=intervention.vat_rate,
                    origin="check-in-intervention" if item.kind == "comment" else "check-in-optional-service")
    state: ItemState = "converted" if item.kind == "accepted-service" else "handled"
    return Handling(replace(item, state=state, outcome="converted-to-intervention", work_line_id=line.line_id,
                            work_line=line, work_line_status="pending", **done), line, "converted-to-intervention")


def intervention_from_comment(subject: str, description: str) -> Intervention:
    """The intervention a comment opens, filled from it (seed: "automatisch ingevuld met
    informatie uit de opmerking")."""
    return Intervention(service="intervention", description=subject[:500], remark=description[:1000] or None)


def intervention_from_service(service: CatalogService | None, key: str) -> Intervention:
    if service is None:
        return Intervention(service=key)
    return Intervention(service=service.service, description=(service.description or service.name)[:500],
                        price_incl_vat=service.price_incl_vat, vat_rate=service.vat_rate)


@dataclass(frozen=True)
class Marks:
    """How an appointment shows on the receptionist's list (C4, C7)."""

    items: int
    unhandled: int
    answered: bool

    @property
    def pinned(self) -> bool:
        """Seed, step 3: "wordt de afspraak vastgezet … zolang de online check-in items die het
        bevat, niet worden afgehandeld"."""
        return self.unhandled > 0

    @property
    def answered_mark(self) -> bool:
        """Seed, step 5: once every item is handled the appointment shows only on its date, the
        customer's name in blue: the customer answered and nothing waits."""
        return self.answered and self.unhandled == 0


def day_bounds(day: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """The first instant of `day` in the tenant's zone and of the day after."""
    start = datetime.combine(day, time(0), tzinfo=zone)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone)
    return start.astimezone(UTC), end.astimezone(UTC)


# --- bad link attempts -------------------------------------------------------------------------


@dataclass(frozen=True)
class AttemptLimit:
    """How many invalid check-in links one client may send in a sliding window; over the limit
    the client waits. The attempts are counted in the database (storage.bad_links_since), so the
    limit holds across replicas and restarts."""

    limit: int
    window: timedelta

    def wait_seconds(self, attempts: list[datetime], now: datetime) -> int:
        """Seconds the client must wait, 0 when it may try; `attempts` oldest first."""
        fresh = [at for at in attempts if at > now - self.window]
        if len(fresh) < self.limit:
            return 0
        # The client may try again once enough attempts have left the window to be under the limit.
        return max(1, int((fresh[-self.limit] + self.window - now).total_seconds()) + 1)
