"""What the booking service does, one function per command or event. Every change of state goes
through `transition`, which stores it, records it in the booking's history and publishes it.

Handlers get the open session (the HTTP request or the consumed message owns the transaction)
and `Deps`: the clock, and how customers' links are made and read. They never commit."""
from __future__ import annotations

import hashlib
import hmac
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from pydantic import BaseModel, Field, TypeAdapter, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from bookflow_booking import commands, domain, storage
from bookflow_contracts import (
    AddWorkLine, AutoBook, BookingCommandApplied, BookingCommandRefused, CatalogService, ChangeCustomerContact, CheckinAnswered,
    CommentSharedWithMechanics, Envelope, Message, NotificationStatusChanged, ReminderDue, ReplyReceived, SetTimer, WorkLine,
    timer_owner,
)
from bookflow_runtime import outbox
from bookflow_runtime.auth import LinkInvalid, read_link, sign_link
from bookflow_runtime.errors import BookflowError, Conflict, InvalidInput, NotFound, TooManyRequests, Undeliverable
from bookflow_runtime.inputs import Email

_log = logging.getLogger(__name__)
MY_PAGES = "my-pages"
ONLINE_BOOKING = "online-booking"
"""The purpose of the signed links to online booking the recall service makes (book-again, D2)."""


class TransitionRefused(Conflict):
    code = "transition-not-allowed"
    title = "The booking cannot make this move"


class SlotTaken(Conflict):
    code = "slot-taken"
    title = "The slot is already booked"


class InvalidRequest(InvalidInput):
    code = "invalid-booking"
    title = "The booking cannot be made like this"


class InvalidCustomer(InvalidInput):
    code = "invalid-customer"
    title = "The customer's details are not valid"


class CustomerNumberTaken(Conflict):
    code = "customer-number-taken"
    title = "Another customer has this customer number"


class IdempotencyKeyReused(InvalidInput):
    code = "idempotency-key-reused"
    title = "The Idempotency-Key was used for another request"


class TooManyLinkAttempts(TooManyRequests):
    code = "too-many-link-attempts"
    title = "Too many links that were not valid"


LINK_FAILURES_ALLOWED = 30
"""My pages links that are not valid one client address may try in `LINK_WINDOW` before it is
told to wait (429): a signed link is not guessed, but a script trying is stopped."""
LINK_WINDOW = timedelta(minutes=10)
IDEMPOTENCY_KEYS_KEPT = timedelta(hours=48)
"""How long an `Idempotency-Key` is remembered: at least the 24 hours clients are told."""


@dataclass(frozen=True)
class Deps:
    """What handlers need besides the session: the clock, and how customers' links are made and read."""

    link_secret: str
    public_url: str
    link_days: int = 180
    online_booking_days: int = 90
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))

    def my_pages_url(self, booking: domain.Booking) -> str:
        return self.link_to(booking.tenant_id, booking.id)

    def link_to(self, tenant_id: str, booking_id: uuid.UUID) -> str:
        token = sign_link(self.link_secret, MY_PAGES, {"t": tenant_id, "b": str(booking_id)})
        return f"{self.public_url.rstrip('/')}/my/{token}"

    def read_my_pages_link(self, token: str) -> MyPagesLink:
        """The booking a My pages link opens; LinkInvalid if tampered with, for something else or expired."""
        data = read_link(self.link_secret, MY_PAGES, token, self.link_days * 86400)
        try:
            return MyPagesLink(str(data["t"]), uuid.UUID(str(data["b"])))
        except (KeyError, ValueError, TypeError) as exc:
            raise LinkInvalid("the link is not valid") from exc

    def read_online_booking_link(self, token: str) -> OnlineBookingLink:
        """Whom, for which service and from which reminder a link to online booking is (D2), as
        the recall service signed it: `{"t": tenant, "c": customer, "s": service, "src": source,
        "r": reminder}`; LinkInvalid if tampered with, for something else or expired."""
        data = read_link(self.link_secret, ONLINE_BOOKING, token, self.online_booking_days * 86400)
        try:
            source = str(data.get("src") or "online-booking")
            if source not in ("book-again", "recall", "online-booking"):
                raise ValueError(source)
            service, reference = str(data["s"]), data.get("r")
            if not 0 < len(service) <= 100 or (reference is not None and len(str(reference)) > 200):
                raise ValueError(service)
            return OnlineBookingLink(str(data["t"]), uuid.UUID(str(data["c"])), service, source,
                                     str(reference) if reference is not None else None)
        except (KeyError, ValueError, TypeError) as exc:
            raise LinkInvalid("the link is not valid") from exc

    def address_key(self, address: str) -> str:
        """A client address as kept for rate limits: keyed with the link secret, never as is."""
        return hmac.new(self.link_secret.encode(), address.encode(), hashlib.sha256).hexdigest()[:32]


@dataclass(frozen=True)
class MyPagesLink:
    tenant_id: str
    booking_id: uuid.UUID


@dataclass(frozen=True)
class OnlineBookingLink:
    tenant_id: str
    customer_id: uuid.UUID
    service: str
    source: str  # book-again (D5) or online-booking
    reminder_id: str | None  # the book-again reminder the link came in, kept as the booking's source_ref


async def _publish(session: AsyncSession, tenant_id: str, messages) -> None:
    for message in messages:
        await outbox.put(session, message, tenant_id=tenant_id)


async def must_find(session: AsyncSession, tenant_id: str, booking_id: uuid.UUID) -> domain.Booking:
    """The booking, locked for a change; NotFound also for another tenant's booking."""
    found = await storage.booking(session, tenant_id, booking_id, lock=True)
    if found is None:
        raise NotFound(f"no booking {booking_id}")
    return found


async def _tenant(session: AsyncSession, tenant_id: str) -> domain.Tenant:
    found = await storage.tenant(session, tenant_id)
    if found is None:
        raise NotFound("no such tenant")
    return found


async def _known_technician(session: AsyncSession, tenant_id: str, technician_id: uuid.UUID | None) -> None:
    if technician_id is not None and not await storage.technician_exists(session, tenant_id, technician_id):
        raise NotFound(f"no technician {technician_id}")


# --- idempotent creation ---------------------------------------------------------------------


async def _once(session: AsyncSession, deps: Deps, tenant_id: str, key: str | None, operation: str, request: BaseModel,
                make: Callable[[], Awaitable[uuid.UUID]]) -> uuid.UUID:
    """`make()` once per `Idempotency-Key` (issue 9, finding 7): the same key with the same
    request gives what the first made, with another request IdempotencyKeyReused. Kept per
    tenant for `IDEMPOTENCY_KEYS_KEPT`; a failed first attempt is rolled back with its key."""
    if key is None:
        return await make()
    fingerprint = hashlib.sha256(f"{operation}\n{request.model_dump_json()}".encode()).hexdigest()
    used = await storage.claim_key(session, tenant_id, key, fingerprint, deps.clock())
    if used is None:
        made = await make()
        await storage.remember_resource(session, tenant_id, key, made)
        return made
    if used.fingerprint != fingerprint or used.resource_id is None:
        raise IdempotencyKeyReused("this Idempotency-Key was used for a different request: use a new key for a new request")
    return used.resource_id


async def forget_expired(session: AsyncSession, now: datetime) -> None:
    """Idempotency keys and failed links are kept only as long as they are needed."""
    await storage.forget_before(session, keys_before=now - IDEMPOTENCY_KEYS_KEPT, links_before=now - LINK_WINDOW)


# --- tenants, technicians, slots -------------------------------------------------------------


async def configure_tenant(session: AsyncSession, tenant: domain.Tenant) -> domain.Tenant:
    """Create or change a tenant; the other services learn of it from `tenant.updated`."""
    await storage.save_tenant(session, tenant)
    await outbox.put(session, tenant.updated_event(), tenant_id=tenant.id)
    return tenant


async def add_technician(session: AsyncSession, deps: Deps, tenant_id: str, command: commands.AddTechnician, *,
                         idempotency_key: str | None = None) -> uuid.UUID:
    async def make() -> uuid.UUID:
        return await storage.add_technician(session, tenant_id, command.name)

    return await _once(session, deps, tenant_id, idempotency_key, "add-technician", command, make)


async def open_slot(session: AsyncSession, deps: Deps, tenant_id: str, command: commands.OpenSlot, *,
                    idempotency_key: str | None = None) -> uuid.UUID:
    """A bookable slot of a service (and maybe a technician) in the future."""
    if command.ends_at <= command.starts_at:
        raise InvalidRequest("the slot must end after it starts")

    async def make() -> uuid.UUID:
        await _known_technician(session, tenant_id, command.technician_id)
        return await storage.add_slot(session, tenant_id, command.technician_id, command.service, command.starts_at, command.ends_at)

    return await _once(session, deps, tenant_id, idempotency_key, "open-slot", command, make)


# --- customers --------------------------------------------------------------------------------


async def must_find_customer(session: AsyncSession, tenant_id: str, customer_id: uuid.UUID, *, lock: bool = True) -> domain.Customer:
    """The customer, locked for a change; NotFound also for another tenant's customer."""
    found = await storage.customer(session, tenant_id, customer_id, lock=lock)
    if found is None:
        raise NotFound(f"no customer {customer_id}")
    return found


def _phone(raw: str | None, tenant: domain.Tenant) -> str | None:
    try:
        return domain.e164(raw, tenant.time_zone)
    except domain.InvalidCustomer as exc:
        raise InvalidCustomer(str(exc)) from exc


def _customer_from(command: commands.CustomerIn, tenant: domain.Tenant, now: datetime) -> domain.Customer:
    new = domain.Customer(
        uuid.uuid4(), command.name, _phone(command.phone, tenant), command.email, command.language,
        preferred_channel=command.preferred_channel, address=command.address.address() if command.address else None,
        customer_number=command.customer_number,
    )
    return domain.with_consent(new, command.marketing_consent, "staff", now) if command.marketing_consent is not None else new


def _edited(customer: domain.Customer, command: commands.EditCustomer | commands.CustomerIn, tenant: domain.Tenant,
            now: datetime, *, given: set[str] | None = None) -> domain.Customer:
    """The customer with the fields the command gives (`null` clears, the name excepted)."""
    given = command.model_fields_set if given is None else given
    changes: dict[str, object] = {}
    for name in ("email", "language", "preferred_channel", "customer_number"):
        if name in given:
            changes[name] = getattr(command, name)
    if "name" in given and command.name:
        changes["name"] = command.name
    if "phone" in given:
        changes["phone"] = _phone(command.phone, tenant)
    if "address" in given:
        changes["address"] = command.address.address() if command.address else None
    after = replace(customer, **changes)
    if "marketing_consent" in given and command.marketing_consent is not None:
        after = domain.with_consent(after, command.marketing_consent, "staff", now)
    return after


async def _number_free(session: AsyncSession, tenant_id: str, number: str | None, besides: uuid.UUID | None = None) -> None:
    if number is None:
        return
    holder = await storage.customer_by_number(session, tenant_id, number)
    if holder is not None and holder.id != besides:
        raise CustomerNumberTaken(f"customer {holder.id} has the customer number {number!r}")


async def save_customer_change(session: AsyncSession, tenant_id: str, before: domain.Customer, after: domain.Customer, *,
                               actor: str, request_id: uuid.UUID | None = None) -> list[str]:
    """Store a changed customer and publish `customer.updated` naming what changed; nothing when
    nothing did. Returns the changed fields."""
    changed = domain.changed_fields(before, after)
    if changed:
        if "customer_number" in changed:
            await _number_free(session, tenant_id, after.customer_number, besides=after.id)
        await storage.save_customer(session, after)
        await outbox.put(session, domain.customer_updated(after, changed, actor=actor, request_id=request_id), tenant_id=tenant_id)
    return changed


async def _add_customer(session: AsyncSession, tenant_id: str, customer: domain.Customer, *, actor: str) -> domain.Customer:
    await _number_free(session, tenant_id, customer.customer_number)
    await storage.add_customer(session, tenant_id, customer)
    await outbox.put(session, domain.customer_updated(customer, [], actor=actor), tenant_id=tenant_id)  # a new customer
    return customer


async def create_customer(session: AsyncSession, deps: Deps, tenant_id: str, command: commands.CustomerIn, *, actor: str,
                          idempotency_key: str | None = None) -> uuid.UUID:
    """Staff add a customer; announced as `customer.updated` with no changed fields (new)."""
    tenant = await _tenant(session, tenant_id)

    async def make() -> uuid.UUID:
        return (await _add_customer(session, tenant_id, _customer_from(command, tenant, deps.clock()), actor=actor)).id

    return await _once(session, deps, tenant_id, idempotency_key, "create-customer", command, make)


async def edit_customer(session: AsyncSession, deps: Deps, tenant_id: str, customer_id: uuid.UUID, command: commands.EditCustomer, *,
                        actor: str) -> uuid.UUID:
    """Staff change a customer's contact details, language, preferred channel or consent; every
    change is published as `customer.updated` with the fields it changed."""
    tenant = await _tenant(session, tenant_id)
    before = await must_find_customer(session, tenant_id, customer_id)
    await save_customer_change(session, tenant_id, before, _edited(before, command, tenant, deps.clock()), actor=actor)
    return customer_id


async def _customer_for_booking(session: AsyncSession, deps: Deps, tenant: domain.Tenant, command: commands.CreateBooking, *,
                                actor: str) -> domain.Customer:
    """The customer a booking is for: the one named, the one with the given customer number
    (brought up to date with the details given), or a new one."""
    if command.customer_id is not None:
        return await must_find_customer(session, tenant.id, command.customer_id)
    c = command.customer
    assert c is not None
    if c.customer_number is not None:
        known = await storage.customer_by_number(session, tenant.id, c.customer_number, lock=True)
        if known is not None:
            given = {f for f in c.model_fields_set if getattr(c, f) is not None}
            after = _edited(known, c, tenant, deps.clock(), given=given)
            await save_customer_change(session, tenant.id, known, after, actor=actor)
            return after
    return await _add_customer(session, tenant.id, _customer_from(c, tenant, deps.clock()), actor=actor)


# --- the service catalog ---------------------------------------------------------------------


async def _publish_catalog(session: AsyncSession, tenant_id: str) -> None:
    await outbox.put(session, domain.catalog_updated(tenant_id, await storage.catalog(session, tenant_id)), tenant_id=tenant_id)


async def save_catalog_service(session: AsyncSession, tenant_id: str, service: str, command: commands.CatalogServiceIn) -> CatalogService:
    """Add or change one service of the catalog; the whole catalog is published as `catalog.updated`."""
    await _tenant(session, tenant_id)
    await storage.lock_catalog(session, tenant_id)
    entry = CatalogService(service=service, **command.model_dump())
    await storage.save_catalog_service(session, tenant_id, entry)
    await _publish_catalog(session, tenant_id)
    return entry


async def remove_catalog_service(session: AsyncSession, tenant_id: str, service: str) -> None:
    """Take a service out of the catalog (bookings of it keep their lines); published as `catalog.updated`."""
    await storage.lock_catalog(session, tenant_id)
    if not await storage.remove_catalog_service(session, tenant_id, service):
        raise NotFound(f"no service {service!r} in the catalog")
    await _publish_catalog(session, tenant_id)


async def _planned_lines(session: AsyncSession, tenant_id: str, lines: list[commands.WorkLineIn]) -> list[WorkLine]:
    known = {s.service: s for s in await storage.catalog(session, tenant_id)} if lines else {}
    return [domain.line_from_catalog(line.line(), known.get(line.service)) for line in lines]


# --- creating and changing bookings ----------------------------------------------------------


async def create_booking(session: AsyncSession, deps: Deps, tenant_id: str, command: commands.CreateBooking, *,
                         idempotency_key: str | None = None, actor: str = "staff") -> uuid.UUID:
    """Staff book a customer (A1, B1); the booking's id, also when the request is a retry."""
    if command.record_only and command.reminder_at is not None:
        raise InvalidRequest("a recorded visit sends nothing and sets no timer: leave out reminder_at")

    async def make() -> uuid.UUID:
        tenant = await _tenant(session, tenant_id)
        customer = await _customer_for_booking(session, deps, tenant, command, actor=actor)
        booking = await _book(
            session, deps, tenant_id, customer, command.service,
            command.starts_at, command.ends_at, command.place.address() if command.place else None,
            technician_id=command.technician_id, slot_id=command.slot_id, sequence=command.sequence,
            reminder_at=command.reminder_at, record_only=command.record_only,
            work_lines=await _planned_lines(session, tenant_id, command.work_lines),
            subject=command.subject.subject() if command.subject else None, extra_info=command.extra_info,
        )
        return booking.id

    return await _once(session, deps, tenant_id, idempotency_key, "create-booking", command, make)


async def _book(
    session: AsyncSession, deps: Deps, tenant_id: str, customer: domain.Customer, service: str,
    starts_at: datetime | None, ends_at: datetime | None, place: domain.Address | None, *,
    technician_id: uuid.UUID | None = None, slot_id: uuid.UUID | None = None, sequence: int | None = None,
    reminder_at: datetime | None = None, rebooked_from: uuid.UUID | None = None, flow: str | None = None,
    record_only: bool = False, work_lines: list[WorkLine] | tuple[WorkLine, ...] = (), subject=None,
    extra_info: str | None = None, source: str = "staff", source_ref: str | None = None,
) -> domain.Booking:
    """Store a new booking of a stored customer in a slot (a given free one, or its own),
    announce it, and start its flow: the notice and the confirmation reminder (A1, A3), or wait
    to be locked (B1)."""
    tenant = await _tenant(session, tenant_id)
    if slot_id is not None:
        slot = await storage.slot(session, tenant_id, slot_id)
        if slot is None:
            raise NotFound(f"no slot {slot_id}")
        starts_at, ends_at, technician_id = slot.starts_at, slot.ends_at, slot.technician_id
    if starts_at is None or ends_at is None:
        raise InvalidRequest("give the booking a slot, or a start and an end")
    await _known_technician(session, tenant_id, technician_id)
    now = deps.clock()
    try:
        booking = domain.new_booking(tenant, customer, service, starts_at, ends_at, place, now=now, technician_id=technician_id,
                                     slot_id=slot_id, sequence=sequence, rebooked_from=rebooked_from, flow=flow,
                                     record_only=record_only, work_lines=work_lines, subject=subject, extra_info=extra_info,
                                     source=source, source_ref=source_ref)
    except domain.InvalidBooking as exc:
        raise InvalidRequest(str(exc)) from exc
    if slot_id is None:
        booking = replace(booking, slot_id=await storage.add_slot(session, tenant_id, technician_id, service, starts_at, ends_at))
    await storage.add_booking(session, booking)
    if not await storage.take_slot(session, tenant_id, booking.slot_id, booking.id):
        raise SlotTaken(f"slot {booking.slot_id} is already booked")
    await outbox.put(session, domain.created_event(booking), tenant_id=tenant_id)
    await _publish(session, tenant_id, domain.on_entry(booking, tenant, "create", now, deps.my_pages_url(booking)))
    if reminder_at is not None:  # an explicit "remind me at", recorded when it comes back
        await outbox.put(session, SetTimer(timer_key=f"booking:{booking.id}:reminder", due_at=reminder_at,
                                           payload={"booking_id": str(booking.id), "kind": "reminder"}), tenant_id=tenant_id)
    return booking


async def edit_booking(session: AsyncSession, deps: Deps, tenant_id: str, booking_id: uuid.UUID, command: commands.EditBooking, *,
                       actor: str) -> uuid.UUID:
    """Correct a booking's customer, place, service, planned work, subject or extra information.
    The customer is the one record all their bookings share: a change of their details is
    published as `customer.updated`, so the other services write to the right address."""
    booking = await must_find(session, tenant_id, booking_id)
    if command.customer is not None:
        tenant = await _tenant(session, tenant_id)
        before = await must_find_customer(session, tenant_id, booking.customer.id)
        await save_customer_change(session, tenant_id, before, _edited(before, command.customer, tenant, deps.clock()), actor=actor)
    changes: dict[str, object] = {k: v for k, v in (("place", command.place.address() if command.place else None),
                                                    ("service", command.service)) if v is not None}
    if command.work_lines is not None:
        changes["work_lines"] = tuple(await _planned_lines(session, tenant_id, command.work_lines))
    if "subject" in command.model_fields_set:
        changes["subject"] = command.subject.subject() if command.subject else None
    if "extra_info" in command.model_fields_set:
        changes["extra_info"] = command.extra_info
    if changes:
        await storage.save_booking(session, replace(booking, **changes))
    return booking_id


async def transition(
    session: AsyncSession, deps: Deps, booking: domain.Booking, name: str, *, actor: str,
    reason: str | None = None, tenant: domain.Tenant | None = None, **changes,
) -> domain.Booking:
    """The one way a booking changes state: check the move, store it, keep it in the history,
    publish `order.transitioned`, withdraw what was asked for the old state and ask for what the
    new state needs; a cancelled booking frees its slot. A move the state machine does not
    allow raises TransitionRefused and changes nothing."""
    tenant = tenant or await _tenant(session, booking.tenant_id)
    now = deps.clock()
    try:
        after = replace(booking, **changes)
        step = domain.step(booking, tenant, name, actor=actor, reason=reason, now=now,
                           my_pages_url=deps.my_pages_url(after), **changes)
    except domain.TransitionNotAllowed as exc:
        raise TransitionRefused(str(exc)) from exc
    await storage.save_booking(session, step.booking, state_reason=reason)
    if changes.keys() & {"starts_at", "ends_at", "technician_id"}:
        await storage.move_slot(session, step.booking)
    if step.booking.state in (domain.CANCELLED, domain.DELETED) and booking.state not in domain.ENDED_STATES:
        freed = {"release": "released", "rebook": "rebooked", "delete": "deleted"}.get(name, "cancelled")
        await storage.free_slot(session, step.booking, freed, now)
    await storage.add_history(session, booking.id, booking.state, step.booking.state, name, actor, reason, now)
    await outbox.put(session, step.transition, tenant_id=booking.tenant_id)
    await _publish(session, booking.tenant_id, step.messages)
    return step.booking


async def move_booking(session: AsyncSession, deps: Deps, tenant_id: str, booking_id: uuid.UUID, name: str,
                       command: commands.Move | None, *, actor: str) -> uuid.UUID:
    """Staff confirm, cancel, follow up, send to execution… with nothing but a reason."""
    booking = await must_find(session, tenant_id, booking_id)
    await transition(session, deps, booking, name, actor=actor, reason=command.reason if command else None)
    return booking_id


async def confirm_booking(session: AsyncSession, deps: Deps, tenant_id: str, booking_id: uuid.UUID, actor: str) -> domain.Booking:
    """A2: the customer confirms (on My pages, or staff on the customer's word)."""
    return await transition(session, deps, await must_find(session, tenant_id, booking_id), "confirm", actor=actor)


async def rebook(session: AsyncSession, deps: Deps, tenant_id: str, booking_id: uuid.UUID, slot_id: uuid.UUID, actor: str) -> domain.Booking:
    """A2: a new booking in a free slot of the same service, linked to the old one, which is
    cancelled with reason "rebooked"; the flow starts again for the new time."""
    old = await must_find(session, tenant_id, booking_id)
    slot = await storage.slot(session, tenant_id, slot_id)
    if slot is None or slot.service != old.service:
        raise NotFound(f"no slot {slot_id} for {old.service}")
    if slot.booking_id is not None:
        raise SlotTaken(f"slot {slot_id} is already booked")
    await transition(session, deps, old, "rebook", actor=actor, reason="rebooked")
    new = await _book(session, deps, tenant_id, old.customer, old.service, None, None, old.place, slot_id=slot_id,
                      rebooked_from=old.id, flow=old.flow, work_lines=old.work_lines, subject=old.subject,
                      extra_info=old.extra_info, source="my-pages-rebook", source_ref=str(old.id))
    await storage.link_rebooking(session, old.id, new.id)
    return new


async def reschedule(session: AsyncSession, deps: Deps, tenant_id: str, booking_id: uuid.UUID, command: commands.Reschedule, *,
                     actor: str) -> uuid.UUID:
    """B7: new start, estimate, technician and order within the technician's day, in the future.
    A technician left out stays; `technician_id: null` unassigns. The order takes its place in
    the technician's day (`domain.make_room`: orders at and after it move one down where they
    would collide); without a `sequence` it goes last in that day, or keeps its place when
    neither the day nor the technician changed."""
    if command.starts_at is None or command.ends_at is None:
        raise InvalidRequest("give starts_at and ends_at or estimate")
    if command.ends_at <= command.starts_at:
        raise InvalidRequest("the booking must end after it starts")
    if command.starts_at < deps.clock():
        raise InvalidRequest(f"the new start is in the past ({command.starts_at.isoformat()})")
    booking = await must_find(session, tenant_id, booking_id)
    tenant = await _tenant(session, tenant_id)
    technician_id = command.technician_id if "technician_id" in command.model_fields_set else booking.technician_id
    await _known_technician(session, tenant_id, technician_id)
    sequence = await _place_in_day(session, tenant, booking, technician_id, command.starts_at, command.sequence)
    await transition(session, deps, booking, "reschedule", actor=actor, reason=command.reason, tenant=tenant,
                     starts_at=command.starts_at, ends_at=command.ends_at, technician_id=technician_id, sequence=sequence)
    return booking_id


async def _place_in_day(session: AsyncSession, tenant: domain.Tenant, booking: domain.Booking, technician_id: uuid.UUID | None,
                        starts_at: datetime, sequence: int | None) -> int | None:
    """The booking's place in its technician's (local) day, making room for it (B7)."""
    if technician_id is None:
        return sequence
    day = starts_at.astimezone(tenant.zone).date()
    same_day = technician_id == booking.technician_id and day == booking.starts_at.astimezone(tenant.zone).date()
    if sequence is None and same_day:
        return booking.sequence
    start, end = domain.local_day_bounds(day, tenant.zone)
    others = await storage.sequences_of_day(session, tenant.id, technician_id, start, end, besides=booking.id)
    placed = [(i, s) for i, s in others if s is not None]
    if sequence is None:
        return max((s for _, s in placed), default=-1) + 1 if placed else None
    await storage.set_sequences(session, domain.make_room(placed, sequence))
    return sequence


async def put_on_hold(session: AsyncSession, deps: Deps, tenant_id: str, booking_id: uuid.UUID, command: commands.PutOnHold, *,
                      actor: str) -> uuid.UUID:
    """B7: the customer is away until about `back_around`; another technician, or none when
    `technician_id` is sent as null; left out, the technician stays."""
    booking = await must_find(session, tenant_id, booking_id)
    changes: dict[str, object] = {"hold_until": command.back_around}
    if "technician_id" in command.model_fields_set:
        await _known_technician(session, tenant_id, command.technician_id)
        changes["technician_id"] = command.technician_id
    await transition(session, deps, booking, "put-on-hold", actor=actor, reason=command.reason, **changes)
    return booking_id


# --- flow B: locking and letters -------------------------------------------------------------


class OrderDone(BaseModel):
    booking_id: uuid.UUID
    booking_code: str | None = Field(description="The order's booking code, for replies by SMS.")


class OrderRefused(BaseModel):
    booking_id: uuid.UUID
    reasons: list[str] = Field(description="Why the order was left as it is.")


class Locked(BaseModel):
    locked: list[OrderDone]
    refused: list[OrderRefused]


class Sent(BaseModel):
    sent: list[OrderDone]
    refused: list[OrderRefused]


async def _selected(session: AsyncSession, tenant: domain.Tenant, selection: commands.SelectOrders) -> list[domain.Booking]:
    """The orders named, or a technician's planned orders of one local day; locked."""
    if selection.booking_ids is not None:
        return await _named(session, tenant.id, selection.booking_ids)
    start, end = domain.local_day_bounds(selection.day, tenant.zone)
    return await storage.bookings_where_for_update(session, tenant.id, states=(domain.PLANNED,), technician_id=selection.technician_id,
                                                   starts_from=start, starts_before=end)


async def _named(session: AsyncSession, tenant_id: str, ids: list[uuid.UUID]) -> list[domain.Booking]:
    found = await storage.bookings_for_update(session, tenant_id, ids)
    missing = set(ids) - {b.id for b in found}
    if missing:
        raise NotFound(f"no booking {sorted(missing)[0]}")
    return found


async def lock_orders(session: AsyncSession, deps: Deps, tenant_id: str, selection: commands.SelectOrders, *, actor: str) -> Locked:
    """B1: give each order a unique booking code and make it ready for print; an order that
    lacks what a letter needs, or is not planned, is refused with the reason."""
    locked, refused = [], []
    tenant = await _tenant(session, tenant_id)
    for order in await _selected(session, tenant, selection):
        missing = domain.missing_for_letter(order)
        if order.state != domain.PLANNED:
            refused.append(OrderRefused(booking_id=order.id, reasons=[f"the order is {order.state}, not planned"]))
        elif missing:
            refused.append(OrderRefused(booking_id=order.id, reasons=[f"missing {m}" for m in missing]))
        else:
            after = await transition(session, deps, order, "lock", actor=actor, tenant=tenant, booking_code=await _unique_code(session))
            locked.append(OrderDone(booking_id=after.id, booking_code=after.booking_code))
    return Locked(locked=locked, refused=refused)


async def _unique_code(session: AsyncSession) -> str:
    while True:
        code = domain.new_booking_code()
        if not await storage.code_taken(session, code):
            return code


async def send_booking_requests(session: AsyncSession, deps: Deps, tenant_id: str, command: commands.SendBookingRequests, *,
                                actor: str) -> Sent:
    """B2: a letter (or a booking SMS) per order ready for print (the ones named, or all), which
    then awaits the customer's response; the notification service writes the PDF to the tenant's folder."""
    name = "print-letter" if command.by == "letter" else "send-booking-sms"
    tenant = await _tenant(session, tenant_id)
    if command.booking_ids is None:
        orders = await storage.bookings_where_for_update(session, tenant_id, states=(domain.READY_FOR_PRINT,))
    else:
        orders = await _named(session, tenant_id, command.booking_ids)
    sent, refused = [], []
    for order in orders:
        try:
            await transition(session, deps, order, name, actor=actor, tenant=tenant)
            sent.append(OrderDone(booking_id=order.id, booking_code=order.booking_code))
        except TransitionRefused as exc:
            refused.append(OrderRefused(booking_id=order.id, reasons=[exc.detail]))
    return Sent(sent=sent, refused=refused)


# --- My pages --------------------------------------------------------------------------------


async def open_link(session: AsyncSession, deps: Deps, token: str, client_address: str) -> MyPagesLink | None:
    """The booking a My pages link opens, or None when the link is not valid (the attempt is
    counted against the client's address). An address with `LINK_FAILURES_ALLOWED` bad links
    in `LINK_WINDOW` is told to wait (429), whatever it sends (issue 10, finding 5)."""
    return await _read_link_limited(session, deps, client_address, lambda: deps.read_my_pages_link(token))


async def _read_link_limited(session: AsyncSession, deps: Deps, client_address: str, read: Callable[[], object]):
    """`read()` of a customer's link, refusing an address that sent too many bad ones (429);
    None, counted against the address, when the link is not valid."""
    address, now = deps.address_key(client_address), deps.clock()
    failures, earliest = await storage.failed_links_since(session, address, now - LINK_WINDOW)
    if failures >= LINK_FAILURES_ALLOWED and earliest is not None:
        wait = max(1, int((earliest + LINK_WINDOW - now).total_seconds()) + 1)
        raise TooManyLinkAttempts(f"{failures} links that were not valid came from your address: try again in {wait} s", retry_after=wait)
    try:
        return read()
    except LinkInvalid:
        await storage.add_failed_link(session, address, now)
        return None


async def open_online_booking_link(session: AsyncSession, deps: Deps, token: str, client_address: str) -> OnlineBookingLink | None:
    """What a link to online booking offers (D2), or None when it is not valid; limited like My pages links."""
    return await _read_link_limited(session, deps, client_address, lambda: deps.read_online_booking_link(token))


class NotBookableOnline(Conflict):
    code = "not-bookable-online"
    title = "The service cannot be booked online"


async def book_online(session: AsyncSession, deps: Deps, link: OnlineBookingLink, slot_id: uuid.UUID) -> domain.Booking:
    """D2, D5: the customer books a free time of the service the link offers; the booking is
    marked with the link's source ("via book-again reminder") and the reminder it came from.
    A link books once: used again, it gives the booking it made."""
    customer = await must_find_customer(session, link.tenant_id, link.customer_id)
    if link.reminder_id is not None:
        made = await storage.booking_from_source(session, link.tenant_id, link.customer_id, link.source, link.reminder_id)
        if made is not None:
            return made
    offered = await storage.catalog_service(session, link.tenant_id, link.service)
    if offered is not None and not offered.bookable_online:
        raise NotBookableOnline(f"{link.service} cannot be booked online")
    slot = await storage.slot(session, link.tenant_id, slot_id)
    if slot is None or slot.service != link.service or slot.starts_at <= deps.clock():
        raise NotFound(f"no slot {slot_id} for {link.service}")
    if slot.booking_id is not None:
        raise SlotTaken(f"slot {slot_id} is already booked")
    return await _book(session, deps, link.tenant_id, customer, link.service, None, None, None, slot_id=slot_id,
                       source=link.source, source_ref=link.reminder_id)


# --- messages from other services ------------------------------------------------------------

REMINDER_KINDS = ("reminder", "confirm-reminder", "release", "booking-reminder", "appointment-reminder")
"""The kinds of timer the booking service sets (`domain.timer`, and an explicit `reminder_at`)."""


async def _known_tenant(session: AsyncSession, envelope: Envelope, what: str) -> domain.Tenant:
    """The message's tenant; a tenant this service does not have is refused for good (issue 9,
    finding 8): nothing is sent for a tenant nobody set up."""
    tenant = await storage.tenant(session, envelope.tenant_id)
    if tenant is None:
        raise Undeliverable("unknown-tenant", f"{what} for tenant {envelope.tenant_id!r}, which the booking service does not have")
    return tenant


async def reminder_due(session: AsyncSession, event: ReminderDue, envelope: Envelope, *, deps: Deps) -> None:
    """A timer came back. Whatever it was for happens only if the booking is still in the state
    and version it was set for: a booking confirmed or cancelled meanwhile gets nothing. Other
    services' timers are not ours; a timer of a kind we do not set changes nothing. Its arrival
    is recorded after it is handled, however late it is (issue 9, finding 6)."""
    if timer_owner(event.timer_key) != "booking":
        return
    tenant = await _known_tenant(session, envelope, f"reminder {event.timer_key}")
    kind = event.payload.get("kind")
    if kind not in REMINDER_KINDS:
        _log.warning("reminder %s of unknown kind %r", event.timer_key, kind)
        return
    try:
        booking_id = uuid.UUID(str(event.payload.get("booking_id")))
    except ValueError:
        _log.warning("reminder %s names no booking", event.timer_key)
        return
    booking = await storage.booking(session, envelope.tenant_id, booking_id, lock=True)
    if booking is None:
        _log.warning("reminder %s for unknown booking %s", event.timer_key, booking_id)
        return
    if kind != "reminder" and not domain.still_meant(booking, event.payload):
        _log.info("reminder %s is stale: booking %s is %s (v%s)", event.timer_key, booking_id, booking.state, booking.version)
    elif kind == "confirm-reminder":
        await _publish(session, envelope.tenant_id, domain.reminder_due(booking, tenant, kind, event.due_at, deps.my_pages_url(booking)))
    elif kind == "release":
        await transition(session, deps, booking, "release", actor="system", reason="not confirmed by the deadline", tenant=tenant)
    elif kind == "booking-reminder":
        await transition(session, deps, booking, "no-answer", actor="system", reason="no answer in time", tenant=tenant)
    elif kind == "appointment-reminder":
        await outbox.put(session, domain.appointment_reminder(booking, tenant), tenant_id=envelope.tenant_id)
    await storage.add_reminder_received(session, booking_id, event.timer_key, event.due_at, event.fired_at, event.lateness_ms)


async def reply_received(session: AsyncSession, event: ReplyReceived, envelope: Envelope, *, deps: Deps) -> None:
    """B3: a reply `CODE text` moves the order; an unknown code is kept for the planner and
    changes nothing. A sender who sent too many unknown codes moves nothing more for a while,
    and a right code from another number than the order's needs a person (issue 10, finding 5).
    Every reply is kept with what it did. Logs name the reply, never the person who sent it."""
    await _known_tenant(session, envelope, f"reply {event.reply_id}")
    if await storage.reply_known(session, event.reply_id):
        _log.info("reply %s was handled before", event.reply_id)
        return
    reply = domain.parse_reply(event.text)
    booking = await storage.booking_by_code(session, envelope.tenant_id, reply.code) if reply else None
    guesses = await storage.unknown_codes_from(session, envelope.tenant_id, event.sender, event.received_at - domain.GUESS_WINDOW)
    if guesses >= domain.UNKNOWN_CODES_PER_SENDER:
        outcome = f"not applied: the sender sent {guesses} unknown codes within {domain.GUESS_WINDOW}"
        _log.warning("reply %s not applied: its sender sent %d unknown codes within %s", event.reply_id, guesses, domain.GUESS_WINDOW)
    elif booking is None:
        outcome = storage.UNKNOWN_CODE
        _log.info("reply %s names no known booking code; kept for the planner", event.reply_id)
    else:
        name, reason = domain.reply_move(booking, reply, event.channel, event.sender)
        try:
            after = await transition(session, deps, booking, name, actor="customer", reason=reason)
            outcome = f"{name}: {booking.state} -> {after.state}"
        except TransitionRefused:
            outcome = f"no change: the order is {booking.state}"
    await storage.add_reply(
        session, reply_id=event.reply_id, tenant_id=envelope.tenant_id, booking_id=booking.id if booking else None,
        sender=event.sender, text=event.text, code=reply.code if reply else None, outcome=outcome, received_at=event.received_at,
    )


async def record_notification_statuses(session: AsyncSession, items: list[tuple[NotificationStatusChanged, Envelope]]) -> None:
    """The communication log (A6, X4) as the booking service keeps it: every message to a
    customer with its channel, status, times and cost, from `notification.status`, with no
    question asked of the notification service. A batch costs one query for its tenants and one
    upsert; an unknown tenant fails the batch, whose messages are then handled one by one, so
    that only that tenant's are dead-lettered (`unknown-tenant`)."""
    known = await storage.tenants_by_id(session, {envelope.tenant_id for _, envelope in items})
    for event, envelope in items:
        if envelope.tenant_id not in known:
            raise Undeliverable("unknown-tenant", f"status of message {event.message_id} for tenant {envelope.tenant_id!r}, "
                                                  "which the booking service does not have")
    await storage.record_message_statuses(session, [storage.MessageStatus(
        envelope.tenant_id, event.message_id, event.booking_id, event.customer_id, event.channel, event.template_key, event.status,
        event.at, event.reason, event.provider, event.segments, event.cost, event.currency) for event, envelope in items])


# --- commands from check-in and recall (booking.commands) -------------------------------------


async def _answered_before(session: AsyncSession, tenant_id: str, command: ChangeCustomerContact | AddWorkLine | AutoBook) -> bool:
    """True when this request id was answered already: the same answer is published again (the
    sender may be asking because it missed it), and nothing is applied twice."""
    previous = await storage.applied_result(session, tenant_id, command.request_id)
    if previous is None:
        return False
    answer = (BookingCommandApplied if previous["applied"] else BookingCommandRefused).model_validate(previous["answer"])
    await outbox.put(session, answer, tenant_id=tenant_id)
    return True


async def _answer(session: AsyncSession, tenant_id: str, command: ChangeCustomerContact | AddWorkLine | AutoBook,
                  answer: BookingCommandApplied | BookingCommandRefused) -> None:
    await storage.remember_result(session, tenant_id, command.request_id, command.message_type,
                                  {"applied": isinstance(answer, BookingCommandApplied), "answer": answer.model_dump(mode="json")})
    await outbox.put(session, answer, tenant_id=tenant_id)


def _refused(command: Message, code: str, reason: str, *, customer_id: uuid.UUID | None = None,
             booking_id: uuid.UUID | None = None) -> BookingCommandRefused:
    return BookingCommandRefused(request_id=command.request_id, command=command.message_type, customer_id=customer_id,
                                 booking_id=booking_id, reason_code=code, reason=reason[:500])


_EMAIL = TypeAdapter(Email)
_WHO = {"check-in": "check-in", "my-pages": "customer"}


async def change_customer_contact(session: AsyncSession, command: ChangeCustomerContact, envelope: Envelope, *, deps: Deps) -> None:
    """C3: the customer changed phone, e-mail or preferred channel at check-in. Applied to the
    customer record, published as `customer.updated` (actor `check-in`, with the request id), and
    written in the customer's and the booking's communication log."""
    tenant = await _known_tenant(session, envelope, f"contact change {command.request_id}")
    if await _answered_before(session, tenant.id, command):
        return
    before = await storage.customer(session, tenant.id, command.customer_id, lock=True)
    if before is None:
        await _answer(session, tenant.id, command, _refused(command, "not-found", f"no customer {command.customer_id}",
                                                            customer_id=command.customer_id, booking_id=command.booking_id))
        return
    try:
        phone = domain.e164(command.phone, tenant.time_zone) if command.phone else before.phone
        email = _EMAIL.validate_python(command.email) if command.email else before.email
    except (domain.InvalidCustomer, ValidationError) as exc:
        reason = str(exc) if isinstance(exc, domain.InvalidCustomer) else f"{command.email!r} is not an e-mail address"
        await _answer(session, tenant.id, command, _refused(command, "invalid", reason, customer_id=before.id, booking_id=command.booking_id))
        return
    after = replace(before, phone=phone, email=email, preferred_channel=command.preferred_channel or before.preferred_channel)
    actor = _WHO[command.source]
    changed = await save_customer_change(session, tenant.id, before, after, actor=actor, request_id=command.request_id)
    values = {name: (getattr(after, name)) for name in changed}
    where = "at check-in" if command.source == "check-in" else "on My pages"
    text = f"the customer changed {', '.join(changed)} {where}" if changed else f"the customer confirmed their contact details {where}"
    await storage.add_log_entry(session, tenant.id, kind="contact-change", at=envelope.occurred_at, text=text, customer_id=after.id,
                                booking_id=command.booking_id, details={"changed": values, "request_id": str(command.request_id)},
                                dedupe_key=f"request:{command.request_id}")
    await _answer(session, tenant.id, command, BookingCommandApplied(
        request_id=command.request_id, command=command.message_type, customer_id=after.id, booking_id=command.booking_id))


async def add_work_line(session: AsyncSession, command: AddWorkLine, envelope: Envelope, *, deps: Deps) -> None:
    """C5: an intervention or an accepted optional service becomes a work line of the booking;
    the same line (by its id) or the same request is added once."""
    await _known_tenant(session, envelope, f"work line {command.request_id}")
    if await _answered_before(session, envelope.tenant_id, command):
        return
    booking = await storage.booking(session, envelope.tenant_id, command.booking_id, lock=True)
    if booking is None:
        answer: BookingCommandApplied | BookingCommandRefused = _refused(command, "not-found", f"no booking {command.booking_id}",
                                                                         booking_id=command.booking_id)
    elif booking.state in (domain.CANCELLED, domain.DELETED, domain.NO_SHOW):
        answer = _refused(command, "not-allowed", f"the booking is {booking.state}", customer_id=booking.customer.id,
                          booking_id=booking.id)
    else:
        if command.line.line_id not in {line.line_id for line in booking.work_lines}:
            await storage.save_booking(session, replace(booking, work_lines=(*booking.work_lines, command.line)))
        answer = BookingCommandApplied(request_id=command.request_id, command=command.message_type, customer_id=booking.customer.id,
                                       booking_id=booking.id)
    await _answer(session, envelope.tenant_id, command, answer)


async def auto_book(session: AsyncSession, command: AutoBook, envelope: Envelope, *, deps: Deps) -> None:
    """E4: book the customer into the first free slot of the service in the window, following
    the tenant's flow (a notice, and in the confirmation flow the customer confirms), marked
    `recall-auto-book` with the recall as `source_ref`. The slot is claimed with `SKIP LOCKED`,
    so two requests at once never get the same one; none free is refused as `no-free-slot`."""
    tenant = await _known_tenant(session, envelope, f"auto-book {command.request_id}")
    if await _answered_before(session, tenant.id, command):
        return
    customer = await storage.customer(session, tenant.id, command.customer_id, lock=True)
    answer: BookingCommandApplied | BookingCommandRefused
    if customer is None:
        answer = _refused(command, "not-found", f"no customer {command.customer_id}", customer_id=command.customer_id)
    elif command.search_until <= command.search_from:
        answer = _refused(command, "invalid", "the window ends before it starts", customer_id=customer.id)
    else:
        slot = await storage.claim_free_slot(session, tenant.id, command.service, after=max(command.search_from, deps.clock()),
                                             before=command.search_until)
        if slot is None:
            answer = _refused(command, "no-free-slot", f"no free time for {command.service} between "
                              f"{command.search_from.isoformat()} and {command.search_until.isoformat()}", customer_id=customer.id)
        else:
            try:
                async with session.begin_nested():  # a refusal leaves nothing of the attempt behind
                    booking = await _book(session, deps, tenant.id, customer, command.service, None, None, None, slot_id=slot.id,
                                          source="recall-auto-book", source_ref=command.source_ref)
                answer = BookingCommandApplied(request_id=command.request_id, command=command.message_type, customer_id=customer.id,
                                               booking_id=booking.id, starts_at=booking.starts_at)
            except BookflowError as exc:
                answer = _refused(command, "invalid", exc.detail, customer_id=customer.id)
    await _answer(session, tenant.id, command, answer)


# --- what happened at check-in (checkin.events) ------------------------------------------------


async def checkin_answered(session: AsyncSession, event: CheckinAnswered, envelope: Envelope) -> None:
    """C2, C4: the customer sent the check-in page; written in the booking's and the customer's
    communication log as it happens."""
    await _known_tenant(session, envelope, f"check-in of booking {event.booking_id}")
    booking = await storage.booking(session, envelope.tenant_id, event.booking_id)
    if booking is None:
        _log.warning("check-in answered for booking %s, which the tenant does not have", event.booking_id)
        return
    parts = [f"accepted {', '.join(event.accepted_services)}" if event.accepted_services else "",
             f"asked to be contacted about {', '.join(event.contact_requests)}" if event.contact_requests else "",
             f"{event.comments} comment{'s' if event.comments != 1 else ''}" if event.comments else ""]
    text = "the customer answered the check-in" + (": " + "; ".join(p for p in parts if p) if any(parts) else "")
    await storage.add_log_entry(session, envelope.tenant_id, kind="check-in", at=event.answered_at, text=text, customer_id=booking.customer.id,
                                booking_id=booking.id, details=event.model_dump(mode="json", include={"accepted_services", "contact_requests",
                                                                                                       "comments"}),
                                dedupe_key=f"checkin-answered:{envelope.event_id}")


async def comment_shared(session: AsyncSession, event: CommentSharedWithMechanics, envelope: Envelope) -> None:
    """C6: a check-in comment and its files made visible to mechanics (or hidden again), kept
    for the technician's work list."""
    await _known_tenant(session, envelope, f"comment {event.comment_id}")
    if await storage.booking(session, envelope.tenant_id, event.booking_id) is None:
        _log.warning("comment %s shared for booking %s, which the tenant does not have", event.comment_id, event.booking_id)
        return
    await storage.share_comment(session, envelope.tenant_id, booking_id=event.booking_id, comment_id=event.comment_id,
                                visible=event.visible, subject=event.subject, description=event.description,
                                files=[f.model_dump(mode="json") for f in event.files])
