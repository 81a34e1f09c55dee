"""What the check-in service does, one function per event, customer action or staff action.

Events keep the projection (bookings, tenants, catalogs, customers) and the link's timer in step
(C1); the customer's page changes contact details, leaves comments with files and sends the
answer (C2, C3); the receptionist handles items and shares comments with mechanics (C4–C7).
Every outgoing message goes to the outbox in the same transaction as the change it announces.
"""
from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from bookflow_checkin import domain, storage, uploads
from bookflow_checkin.attachments import AttachmentStore, object_key
from bookflow_contracts import (
    ENDED_STATES, AddWorkLine, BookingCommandApplied, BookingCommandRefused, BookingCreated, CatalogUpdated,
    ChangeCustomerContact, CheckinAnswered, CheckinItemHandled, CommentSharedWithMechanics, CustomerUpdated, Envelope,
    Message, OrderTransitioned, ReminderDue, SendNotification, SharedFile, TenantUpdated, timer_owner,
)
from bookflow_runtime import outbox
from bookflow_runtime.auth import LinkInvalid, Staff, read_link, sign_link
from bookflow_runtime.errors import Conflict, InvalidInput, NotFound, TooManyRequests

_log = logging.getLogger(__name__)
CHECKIN = "checkin"
"""The purpose of check-in links: a link for My pages does not open the check-in page."""


@dataclass
class Deps:
    """What handlers need besides the session: the clock, the link secret and public address,
    the attachment store and its limits, and the count of bad link attempts."""

    link_secret: str
    public_url: str
    store: AttachmentStore
    limits: uploads.Limits
    limiter: domain.AttemptLimit
    link_max_age: timedelta = timedelta(days=30)
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))

    def checkin_url(self, tenant_id: str, booking_id: uuid.UUID) -> str:
        token = sign_link(self.link_secret, CHECKIN, {"t": tenant_id, "b": str(booking_id)})
        return f"{self.public_url.rstrip('/')}/checkin/{token}"

    def file_url(self, tenant_id: str, file_id: uuid.UUID) -> str:
        return f"{self.public_url.rstrip('/')}/tenants/{tenant_id}/files/{file_id}"


async def _publish(session: AsyncSession, tenant_id: str, messages: tuple[Message, ...] | list[Message]) -> None:
    for message in messages:
        await outbox.put(session, message, tenant_id=tenant_id)


# --- the projection and the link's timer (C1) ------------------------------------------------


async def _keep(session: AsyncSession, deps: Deps, before: domain.Appointment | None, after: domain.Appointment) -> None:
    """Store the appointment and bring its link timer in line with it."""
    await storage.lock_tenant_plans(session, after.tenant_id)
    tenant = await storage.tenant(session, after.tenant_id)
    rules = (await storage.rules(session, after.tenant_id)).rules
    plan = domain.replan(before, after, tenant, rules, deps.clock())
    await storage.save_appointment(session, replace(after, link_timer_due=plan.link_timer_due))
    await _publish(session, after.tenant_id, plan.messages)


async def take_booking_created(session: AsyncSession, event: BookingCreated, envelope: Envelope, *, deps: Deps) -> None:
    """A new booking: keep what the page shows and plan its link."""
    await storage.lock_booking(session, event.booking_id)
    before = await storage.appointment(session, event.booking_id)
    if before is not None and before.tenant_id != envelope.tenant_id:
        _log.warning("booking %s arrived for tenant %s but is kept for another; ignored", event.booking_id, envelope.tenant_id)
        return
    await _keep(session, deps, before, domain.from_created(before, event, envelope.tenant_id, envelope.occurred_at))


async def take_transition(session: AsyncSession, event: OrderTransitioned, envelope: Envelope, *, deps: Deps) -> None:
    """A booking changed: keep its snapshot unless a newer one is known; a move re-arms the
    link's timer, an end cancels it and withdraws a link still waiting."""
    await storage.lock_booking(session, event.booking_id)
    before = await storage.appointment(session, event.booking_id)
    if before is not None and before.tenant_id != envelope.tenant_id:
        return
    if event.booking is None:  # version 1: no snapshot, so only a state nothing leaves can be taken in
        if before is None or event.to_state not in ENDED_STATES or before.ended:
            return
        after = replace(before, state=event.to_state, version=before.version + 1)
    else:
        after = domain.from_snapshot(before, event.booking, envelope.tenant_id)
        if after is None:
            return
    await _keep(session, deps, before, after)


async def replan_tenant(session: AsyncSession, deps: Deps, tenant_id: str) -> int:
    """Bring the links of every booking of the tenant that has not begun in line with its
    settings and time zone; returns how many messages that took."""
    await storage.lock_tenant_plans(session, tenant_id, everything=True)
    tenant = await storage.tenant(session, tenant_id)
    rules = (await storage.rules(session, tenant_id)).rules
    now, count = deps.clock(), 0
    for appointment in await storage.upcoming(session, tenant_id, now):
        plan = domain.replan(appointment, appointment, tenant, rules, now)
        if plan.messages:
            await storage.save_appointment(session, replace(appointment, link_timer_due=plan.link_timer_due))
            await _publish(session, tenant_id, plan.messages)
            count += len(plan.messages)
    return count


async def take_tenant(session: AsyncSession, event: TenantUpdated, envelope: Envelope, *, deps: Deps) -> None:
    """The tenant's name, zone and language; a new zone moves the links' instants."""
    extra = event.settings or {}
    await storage.lock_tenant_plans(session, envelope.tenant_id, everything=True)
    kept = await storage.save_tenant_basics(
        session, envelope.tenant_id, envelope.occurred_at, name=event.name, time_zone=event.time_zone, language=event.language,
        contact_phone=_text(extra.get("phone") or extra.get("reply_number")), contact_email=_text(extra.get("email")),
        currency=_text(extra.get("currency")))
    if kept:
        await replan_tenant(session, deps, envelope.tenant_id)


def _text(value: object) -> str | None:
    return str(value)[:254] if isinstance(value, str) and value.strip() else None


async def take_catalog(session: AsyncSession, event: CatalogUpdated, envelope: Envelope, *, deps: Deps) -> None:
    """The tenant's services; those offered at check-in are the page's optional services."""
    await storage.save_catalog(session, envelope.tenant_id, envelope.occurred_at, list(event.services))


async def take_customer(session: AsyncSession, event: CustomerUpdated, envelope: Envelope, *, deps: Deps) -> None:
    """The customer's contact details changed (perhaps at check-in): the next link uses them."""
    for appointment in await storage.appointments_of_customer(session, envelope.tenant_id, event.customer.customer_id):
        if appointment.customer_at is None or appointment.customer_at < envelope.occurred_at:
            await storage.save_appointment(session, replace(appointment, customer=event.customer, customer_at=envelope.occurred_at))


async def send_link_when_due(session: AsyncSession, event: ReminderDue, envelope: Envelope, *, deps: Deps) -> None:
    """The link's timer fired: if the booking still stands at the start the timer was set for,
    ask for the `checkin-link` message by the customer's preferred channel (C1)."""
    if timer_owner(event.timer_key) != CHECKIN or not event.timer_key.endswith(":link"):
        return
    try:
        booking_id = uuid.UUID(event.timer_key.split(":")[1])
    except (IndexError, ValueError):
        _log.warning("a check-in timer with a key that names no booking: %s", event.timer_key)
        return
    await storage.lock_booking(session, booking_id)
    appointment = await storage.appointment(session, booking_id, envelope.tenant_id)
    if appointment is None:
        return
    tenant = await storage.tenant(session, envelope.tenant_id)
    rules = (await storage.rules(session, envelope.tenant_id)).rules
    now = deps.clock()
    if not domain.link_still_due(appointment, tenant, rules, event.payload, now):
        _log.info("check-in link of %s not sent: the booking changed since its timer was set", booking_id)
        if appointment.link_timer_due is not None and event.payload.get("starts_at") == appointment.starts_at.isoformat():
            await storage.save_appointment(session, replace(appointment, link_timer_due=None))
        return
    assert appointment.customer is not None and tenant is not None
    await outbox.put(session, SendNotification(
        idempotency_key=f"checkin-link:{booking_id}:{appointment.starts_at.isoformat()}",
        customer=appointment.customer, channels=domain.channels_for(appointment.customer), template_key="checkin-link",
        data={"service": tenant.service_name(appointment.service), "starts_at": appointment.starts_at.isoformat(),
              "checkin_url": deps.checkin_url(appointment.tenant_id, booking_id), "booking_id": str(booking_id)},
        booking_id=booking_id, regarding=domain.regarding(booking_id), regarding_version=appointment.version,
        valid_until=appointment.starts_at,
    ), tenant_id=appointment.tenant_id)
    await storage.save_appointment(session, replace(appointment, link_timer_due=None, link_sent_at=now,
                                                    link_sent_start=appointment.starts_at))


async def take_command_result(session: AsyncSession, event: BookingCommandApplied | BookingCommandRefused, envelope: Envelope,
                              *, deps: Deps) -> None:
    """Booking's answer to a contact change or a work line check-in asked for; others' are not ours."""
    applied = isinstance(event, BookingCommandApplied)
    status, reason = ("applied", None) if applied else ("refused", event.reason)  # type: ignore[union-attr]
    change = await storage.settle_contact_change(session, envelope.tenant_id, event.request_id, status, reason)
    if change is not None:
        return
    booking_id = await storage.booking_of_work_line(session, envelope.tenant_id, event.request_id)
    if booking_id is None:
        return
    # The booking first, then its items, as every other change to them does: no deadlock.
    await storage.lock_booking(session, booking_id)
    item = await storage.settle_work_line(session, envelope.tenant_id, event.request_id, status, reason)
    if item is None or not applied or item.work_line_id is None:
        return
    appointment = await storage.appointment(session, item.booking_id, envelope.tenant_id)
    if appointment is not None and item.work_line is not None:
        await storage.save_appointment(session, domain.with_line(appointment, item.work_line))


# --- the customer's page (C2, C3, C7) -------------------------------------------------------


@dataclass(frozen=True)
class LinkRef:
    tenant_id: str
    booking_id: uuid.UUID


class CheckinClosed(Conflict):
    code = "checkin-closed"
    title = "Check-in is closed"


async def open_link(session: AsyncSession, deps: Deps, token: str, client: str) -> LinkRef:
    """The booking a check-in link opens. A client that sent too many bad links waits (429);
    a bad link is counted in the request's transaction (the refusal page commits it)."""
    now = deps.clock()
    wait = deps.limiter.wait_seconds(await storage.bad_links_since(session, client, now - deps.limiter.window), now)
    if wait:
        raise TooManyRequests("too many invalid check-in links from this address; try again later", retry_after=wait)
    try:
        data = read_link(deps.link_secret, CHECKIN, token, int(deps.link_max_age.total_seconds()))
        return LinkRef(str(data["t"]), uuid.UUID(str(data["b"])))
    except (LinkInvalid, KeyError, ValueError, TypeError) as exc:
        await storage.add_bad_link(session, client, now, now - deps.limiter.window)
        if isinstance(exc, LinkInvalid):
            raise
        raise LinkInvalid("the link is not valid") from exc


async def _open_appointment(session: AsyncSession, deps: Deps, ref: LinkRef, *, lock: bool = False) -> domain.Appointment:
    if lock:
        await storage.lock_booking(session, ref.booking_id)
    appointment = await storage.appointment(session, ref.booking_id, ref.tenant_id)
    if appointment is None or not appointment.created_known:
        raise LinkInvalid("the link is not valid")
    return appointment


def _must_be_open(appointment: domain.Appointment, now: datetime) -> None:
    if not appointment.open_for_checkin(now):
        raise CheckinClosed("the appointment has begun or was cancelled; call the business instead")


async def change_contact(session: AsyncSession, deps: Deps, ref: LinkRef, *, phone: str | None, email: str | None,
                         preferred_channel: str | None) -> storage.ContactChange | None:
    """The welcome step (C3): the customer's preferred channel and corrected phone or e-mail go to
    booking as one command (booking applies it, logs it and publishes `customer.updated`).
    Nothing is sent when nothing changed."""
    appointment = await _open_appointment(session, deps, ref, lock=True)
    now = deps.clock()
    _must_be_open(appointment, now)
    current = effective_contact(appointment, await storage.contact_changes_of(session, ref.booking_id))
    phone, email = (phone or None), (email or None)
    if preferred_channel == "sms" and not (phone or current.phone):
        raise InvalidInput("give a mobile number to get text messages")
    if preferred_channel == "email" and not (email or current.email):
        raise InvalidInput("give an e-mail address to get e-mail")
    changed = dict(
        phone=phone if phone and phone != current.phone else None,
        email=email if email and email.lower() != (current.email or "").lower() else None,
        preferred_channel=preferred_channel if preferred_channel and preferred_channel != current.preferred_channel else None,
    )
    if not any(changed.values()):
        return None
    change = storage.ContactChange(uuid.uuid4(), requested_at=now, status="pending", reason=None, **changed)
    await storage.add_contact_change(session, ref.tenant_id, ref.booking_id, appointment.customer_id, change)
    await outbox.put(session, ChangeCustomerContact(request_id=change.request_id, customer_id=appointment.customer_id,
                                                    booking_id=ref.booking_id, source="check-in", **changed),
                     tenant_id=ref.tenant_id)
    return change


@dataclass(frozen=True)
class Contact:
    phone: str | None
    email: str | None
    preferred_channel: str | None


def effective_contact(appointment: domain.Appointment, changes: list[storage.ContactChange]) -> Contact:
    """The customer's details as the page shows them: what booking told, with the customer's own
    changes on top until booking refuses one."""
    customer = appointment.customer
    contact = Contact(customer.phone if customer else None, customer.email if customer else None,
                      customer.preferred_channel if customer else None)
    for change in changes:
        if change.status == "refused":
            continue
        if appointment.customer_at is not None and change.status == "applied" and change.requested_at < appointment.customer_at:
            continue  # booking's later word already holds it
        contact = Contact(change.phone or contact.phone, change.email or contact.email,
                          change.preferred_channel or contact.preferred_channel)
    return contact


class CommentRefused(InvalidInput):
    """A comment whose form was refused: nothing of it was kept."""

    code = "comment-refused"

    def __init__(self, detail: str, form: uploads.Form) -> None:
        super().__init__(detail)
        self.form = form


async def add_comment(session: AsyncSession, deps: Deps, ref: LinkRef, body: AsyncIterator[bytes], content_type: str,
                      *, subject_max: int = 200, description_max: int = 2000) -> storage.Comment:
    """A comment with its files (C2). The files stream to the attachment store as they arrive;
    if any is refused, or the text is not acceptable, nothing is kept (CommentRefused)."""
    # The form is read before the database is touched: a slow upload holds no connection.
    form = await uploads.read_form(body, content_type, deps.store,
                                   lambda file_id: object_key(ref.tenant_id, ref.booking_id, file_id), deps.limits)
    subject = " ".join(form.fields.get("subject", "").split())
    description = form.fields.get("description", "").replace("\r\n", "\n").strip()
    problem = None
    if form.refusals:
        problem = "a file was refused"
    elif not subject or len(subject) > subject_max:
        problem = "subject"
    elif len(description) > description_max or any(ord(c) < 32 and c not in "\n\t" for c in description):
        problem = "description"
    if problem:
        await _forget(deps, form.files)
        raise CommentRefused(problem, form)
    try:
        appointment = await _open_appointment(session, deps, ref)
        now = deps.clock()
        _must_be_open(appointment, now)
    except BaseException:
        await _forget(deps, form.files)
        raise
    comment_id = uuid.uuid4()
    kept = [storage.File(f.file_id, ref.tenant_id, ref.booking_id, comment_id, f.name, f.content_type, f.size, f.storage_key)
            for f in form.files]
    try:
        await storage.lock_booking(session, ref.booking_id)
        await storage.add_comment(session, ref.tenant_id, ref.booking_id, comment_id, subject, description, now, kept)
        await storage.add_item(session, ref.tenant_id, domain.Item(uuid.uuid4(), ref.booking_id, "comment", comment_id=comment_id), now)
    except BaseException:
        await _forget(deps, form.files)
        raise
    return storage.Comment(comment_id, ref.booking_id, subject, description, now, False, None, None, tuple(kept))


async def _forget(deps: Deps, stored: list[uploads.StoredFile]) -> None:
    for f in stored:
        await deps.store.delete(f.storage_key)
    stored.clear()


async def send_answer(session: AsyncSession, deps: Deps, ref: LinkRef, choices: dict[str, domain.Choice]) -> None:
    """The customer sends the page (C2, C7): each optional service accepted or asked about becomes
    an item (or changes one not yet handled), and `checkin.answered` tells booking's log."""
    appointment = await _open_appointment(session, deps, ref, lock=True)
    now = deps.clock()
    _must_be_open(appointment, now)
    tenant = await storage.tenant(session, ref.tenant_id)
    offered = {s.service for s in tenant.offered} if tenant else set()
    unknown = set(choices) - offered
    if unknown:
        raise InvalidInput(f"not an optional service of this business: {', '.join(sorted(unknown))}")
    existing = {i.service: i for i in await storage.items_of(session, ref.booking_id, lock=True) if i.service}
    for service, choice in choices.items():
        item = existing.get(service)
        kind = {"accept": "accepted-service", "contact": "contact-request"}.get(choice)
        if item is None:
            if kind:
                await storage.add_item(session, ref.tenant_id, domain.Item(uuid.uuid4(), ref.booking_id, kind, service=service), now)
        elif not item.handled:
            if kind is None:
                await storage.remove_item(session, item.item_id)
            elif kind != item.kind:
                await storage.change_item_kind(session, item.item_id, kind)
    await storage.save_appointment(session, replace(appointment, answered_at=now))
    now_items = await storage.items_of(session, ref.booking_id)
    await outbox.put(session, CheckinAnswered(
        booking_id=ref.booking_id, customer_id=appointment.customer_id, answered_at=now,
        accepted_services=[i.service for i in now_items if i.kind == "accepted-service" and i.service],
        contact_requests=[i.service for i in now_items if i.kind == "contact-request" and i.service],
        comments=sum(1 for i in now_items if i.kind == "comment"),
    ), tenant_id=ref.tenant_id)


# --- the receptionist (C1 settings, C5, C6) --------------------------------------------------------


async def save_settings(session: AsyncSession, deps: Deps, staff: Staff, rules: domain.Rules) -> storage.SettingsRow:
    """An administrator changes the tenant's check-in settings; every upcoming link follows."""
    now = deps.clock()
    await storage.lock_tenant_plans(session, staff.tenant_id, everything=True)
    await storage.save_rules(session, staff.tenant_id, rules, now, staff.actor)
    await replan_tenant(session, deps, staff.tenant_id)
    return storage.SettingsRow(rules, now, staff.actor)


class ItemNotHandled(Conflict):
    code = "item-cannot-be-handled"


async def _staff_appointment(session: AsyncSession, staff: Staff, booking_id: uuid.UUID) -> domain.Appointment:
    await storage.lock_booking(session, booking_id)
    appointment = await storage.appointment(session, booking_id, staff.tenant_id)
    if appointment is None:
        raise NotFound(f"no appointment {booking_id}")
    return appointment


async def handle_item(session: AsyncSession, deps: Deps, staff: Staff, booking_id: uuid.UUID, item_id: uuid.UUID,
                      action: domain.Action, intervention: domain.Intervention | None) -> domain.Item:
    """Handle one item (C5). Adding an intervention (from a comment, or a service set to convert)
    asks booking for the work line; dropping it handles the item all the same."""
    await _staff_appointment(session, staff, booking_id)
    found = await storage.items_of(session, booking_id, lock=True)
    item = next((i for i in found if i.item_id == item_id), None)
    if item is None:
        raise NotFound(f"no item {item_id}")
    if action == "add-intervention" and intervention is None:
        intervention = await draft_intervention(session, staff.tenant_id, item)
    try:
        handling = domain.handle(item, action, intervention, actor=staff.actor, now=deps.clock())
    except domain.CannotHandle as exc:
        raise ItemNotHandled(str(exc)) from exc
    await storage.save_item(session, handling.item)
    if handling.line is not None:
        await outbox.put(session, AddWorkLine(request_id=handling.line.line_id, booking_id=booking_id, line=handling.line),
                         tenant_id=staff.tenant_id)
    remaining = [i for i in found if i.item_id != item_id and not i.handled]
    await outbox.put(session, CheckinItemHandled(
        booking_id=booking_id, item_id=item_id, kind=item.kind, outcome=handling.outcome, actor=staff.actor,
        all_handled=not remaining, service=item.service, work_line_id=handling.line.line_id if handling.line else None,
    ), tenant_id=staff.tenant_id)
    return handling.item


async def draft_intervention(session: AsyncSession, tenant_id: str, item: domain.Item) -> domain.Intervention | None:
    """The intervention an item opens, filled from the comment or the service (seed, step 4)."""
    if item.kind == "comment" and item.comment_id is not None:
        found = await storage.comment(session, tenant_id, item.booking_id, item.comment_id)
        return domain.intervention_from_comment(found.subject, found.description) if found else None
    if item.kind == "accepted-service" and item.service:
        tenant = await storage.tenant(session, tenant_id)
        return domain.intervention_from_service(tenant.catalog_service(item.service) if tenant else None, item.service)
    return None


async def share_comment(session: AsyncSession, deps: Deps, staff: Staff, booking_id: uuid.UUID, comment_id: uuid.UUID,
                        visible: bool) -> storage.Comment:
    """Make a comment and its files visible to mechanics, or hide it again (C6; seed: "Zichtbaar
    voor monteur"). Booking keeps it for the technician's work list."""
    await _staff_appointment(session, staff, booking_id)
    found = await storage.comment(session, staff.tenant_id, booking_id, comment_id)
    if found is None:
        raise NotFound(f"no comment {comment_id}")
    if found.shared == visible:
        return found
    now = deps.clock()
    await storage.share_comment(session, comment_id, visible, now, staff.actor)
    await outbox.put(session, CommentSharedWithMechanics(
        booking_id=booking_id, comment_id=comment_id, visible=visible, subject=found.subject, description=found.description,
        files=[SharedFile(file_id=f.file_id, name=f.name, content_type=f.content_type, size=f.size,
                          url=deps.file_url(staff.tenant_id, f.file_id)) for f in found.files],
    ), tenant_id=staff.tenant_id)
    return replace(found, shared=visible, shared_at=now, shared_by=staff.actor)


async def file_for_staff(session: AsyncSession, staff: Staff, file_id: uuid.UUID) -> storage.File:
    """A customer's file, for staff of its tenant; a technician opens only files of comments
    shared with mechanics (C6)."""
    found = await storage.file_of_tenant(session, staff.tenant_id, file_id)
    only_technician = "technician" in staff.roles and not set(staff.roles) - {"technician"}
    if found is None or (only_technician and not found.shared):
        raise NotFound(f"no file {file_id}")
    return found.file
