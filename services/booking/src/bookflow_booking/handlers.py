"""What the booking service does, one function per command or event. Every change of state goes
through `transition`, which stores it, records it in the booking's history and publishes it."""
from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from bookflow_booking import domain, storage
from bookflow_contracts import Address, Envelope, ReminderDue, ReplyReceived, SetTimer
from bookflow_runtime import outbox
from bookflow_runtime.auth import sign_link
from bookflow_runtime.errors import BookflowError, Conflict, NotFound

_log = logging.getLogger(__name__)
MY_PAGES = "my-pages"


class TransitionRefused(Conflict):
    code = "transition-not-allowed"


class SlotTaken(Conflict):
    code = "slot-taken"


class InvalidRequest(BookflowError):
    status = 422
    code = "invalid-booking"


@dataclass(frozen=True)
class Deps:
    """What handlers need besides the session: the clock, and how customers' links are made."""

    link_secret: str
    public_url: str
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))

    def my_pages_url(self, booking: domain.Booking) -> str:
        token = sign_link(self.link_secret, MY_PAGES, {"t": booking.tenant_id, "b": str(booking.id)})
        return f"{self.public_url.rstrip('/')}/my/{token}"


async def _publish(session: AsyncSession, tenant_id: str, messages) -> None:
    for message in messages:
        await outbox.put(session, message, tenant_id=tenant_id)


async def must_find(session: AsyncSession, tenant_id: str, booking_id: uuid.UUID) -> domain.Booking:
    """The booking, locked for a change; NotFound also for another tenant's booking."""
    found = await storage.booking(session, tenant_id, booking_id, lock=True)
    if found is None:
        raise NotFound(f"no booking {booking_id}")
    return found


# --- creating and changing bookings ----------------------------------------------------------


async def create_booking(
    session: AsyncSession, deps: Deps, tenant_id: str, customer: domain.Customer, service: str,
    starts_at: datetime | None, ends_at: datetime | None, place: Address | None, *,
    technician_id: uuid.UUID | None = None, slot_id: uuid.UUID | None = None, sequence: int | None = None,
    reminder_at: datetime | None = None, rebooked_from: uuid.UUID | None = None, flow: str | None = None,
) -> domain.Booking:
    """Store a new booking in a slot (a given free one, or its own), announce it, and start its
    flow: the notice and the confirmation reminder (A1, A3), or wait to be locked (B1)."""
    tenant = await storage.tenant(session, tenant_id)
    if slot_id is not None:
        slot = await storage.slot(session, tenant_id, slot_id)
        if slot is None:
            raise NotFound(f"no slot {slot_id}")
        starts_at, ends_at, technician_id = slot["starts_at"], slot["ends_at"], slot["technician_id"]
    if starts_at is None or ends_at is None:
        raise InvalidRequest("give the booking a slot, or a start and an end")
    if technician_id is not None and not await storage.technician_exists(session, tenant_id, technician_id):
        raise NotFound(f"no technician {technician_id}")
    try:
        booking = domain.new_booking(tenant, customer, service, starts_at, ends_at, place, technician_id=technician_id,
                                     slot_id=slot_id, sequence=sequence, rebooked_from=rebooked_from, flow=flow)
    except domain.InvalidBooking as exc:
        raise InvalidRequest(str(exc)) from exc
    if slot_id is None:
        booking = replace(booking, slot_id=(await storage.add_slot(session, tenant_id, technician_id, service, starts_at, ends_at))["id"])
    await storage.add_booking(session, booking)
    if await storage.take_slot(session, tenant_id, booking.slot_id, booking.id) is None:
        raise SlotTaken(f"slot {booking.slot_id} is already booked")
    await outbox.put(session, domain.created_event(booking), tenant_id=tenant_id)
    await _publish(session, tenant_id, domain.on_entry(booking, tenant, "create", deps.clock(), deps.my_pages_url(booking)))
    if reminder_at is not None:  # an explicit "remind me at", recorded when it comes back
        await outbox.put(session, SetTimer(timer_key=f"booking:{booking.id}:reminder", due_at=reminder_at,
                                           payload={"booking_id": str(booking.id), "kind": "reminder"}), tenant_id=tenant_id)
    return booking


async def transition(
    session: AsyncSession, deps: Deps, booking: domain.Booking, name: str, *, actor: str,
    reason: str | None = None, tenant: domain.Tenant | None = None, **changes,
) -> domain.Booking:
    """The one way a booking changes state: check the move, store it, keep it in the history,
    publish `order.transitioned` and what the new state asks for; a cancelled booking frees its
    slot. A move the state machine does not allow raises TransitionRefused and changes nothing."""
    tenant = tenant or await storage.tenant(session, booking.tenant_id)
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
    if step.booking.state == domain.CANCELLED:
        await storage.free_slot(session, step.booking, {"release": "released", "rebook": "rebooked"}.get(name, "cancelled"), now)
    await storage.add_history(session, booking.id, booking.state, step.booking.state, name, actor, reason, now)
    await outbox.put(session, step.transition, tenant_id=booking.tenant_id)
    await _publish(session, booking.tenant_id, step.messages)
    return step.booking


async def confirm_booking(session: AsyncSession, deps: Deps, tenant_id: str, booking_id: uuid.UUID, actor: str) -> domain.Booking:
    """A2: the customer confirms (on My pages, or staff on the customer's word)."""
    return await transition(session, deps, await must_find(session, tenant_id, booking_id), "confirm", actor=actor)


async def rebook(session: AsyncSession, deps: Deps, tenant_id: str, booking_id: uuid.UUID, slot_id: uuid.UUID, actor: str) -> domain.Booking:
    """A2: a new booking in a free slot of the same service, linked to the old one, which is
    cancelled with reason "rebooked"; the flow starts again for the new time."""
    old = await must_find(session, tenant_id, booking_id)
    slot = await storage.slot(session, tenant_id, slot_id)
    if slot is None or slot["service"] != old.service:
        raise NotFound(f"no slot {slot_id} for {old.service}")
    if slot["booking_id"] is not None:
        raise SlotTaken(f"slot {slot_id} is already booked")
    await transition(session, deps, old, "rebook", actor=actor, reason="rebooked")
    new = await create_booking(
        session, deps, tenant_id, old.customer, old.service, None, None, old.place, slot_id=slot_id,
        rebooked_from=old.id, flow=old.flow,
    )
    await storage.link_rebooking(session, old.id, new.id)
    return new


async def reschedule(session: AsyncSession, deps: Deps, tenant_id: str, booking_id: uuid.UUID, actor: str, *,
                     starts_at: datetime, ends_at: datetime, technician_id: uuid.UUID | None, sequence: int | None,
                     reason: str | None) -> domain.Booking:
    """B7: new start, estimate, technician and order within the technician's day."""
    booking = await must_find(session, tenant_id, booking_id)
    if ends_at <= starts_at:
        raise InvalidRequest("the booking must end after it starts")
    if technician_id is not None and not await storage.technician_exists(session, tenant_id, technician_id):
        raise NotFound(f"no technician {technician_id}")
    return await transition(session, deps, booking, "reschedule", actor=actor, reason=reason, starts_at=starts_at,
                            ends_at=ends_at, technician_id=technician_id, sequence=sequence)


async def put_on_hold(session: AsyncSession, deps: Deps, tenant_id: str, booking_id: uuid.UUID, actor: str, *,
                      back_around: date, technician_id: uuid.UUID | None, reason: str | None) -> domain.Booking:
    """B7: the customer is away until about `back_around`; another or no technician."""
    booking = await must_find(session, tenant_id, booking_id)
    if technician_id is not None and not await storage.technician_exists(session, tenant_id, technician_id):
        raise NotFound(f"no technician {technician_id}")
    return await transition(session, deps, booking, "put-on-hold", actor=actor, reason=reason,
                            hold_until=back_around, technician_id=technician_id)


# --- flow B: locking and letters -------------------------------------------------------------


async def lock_orders(session: AsyncSession, deps: Deps, tenant_id: str, orders: list[domain.Booking], actor: str) -> dict:
    """B1: give each order a unique booking code and make it ready for print; an order that
    lacks what a letter needs, or is not planned, is refused with the reason."""
    locked, refused = [], []
    tenant = await storage.tenant(session, tenant_id)
    for order in orders:
        missing = domain.missing_for_letter(order)
        if order.state != domain.PLANNED:
            refused.append({"booking_id": order.id, "reasons": [f"the order is {order.state}, not planned"]})
        elif missing:
            refused.append({"booking_id": order.id, "reasons": [f"missing {m}" for m in missing]})
        else:
            after = await transition(session, deps, order, "lock", actor=actor, tenant=tenant,
                                     booking_code=await _unique_code(session))
            locked.append({"booking_id": after.id, "booking_code": after.booking_code})
    return {"locked": locked, "refused": refused}


async def _unique_code(session: AsyncSession) -> str:
    while True:
        code = domain.new_booking_code()
        if not await storage.code_taken(session, code):
            return code


async def send_booking_requests(session: AsyncSession, deps: Deps, tenant_id: str, orders: list[domain.Booking],
                                actor: str, by: str) -> dict:
    """B2: a letter (or a booking SMS) per order ready for print, which then awaits the
    customer's response; the notification service writes the PDF to the tenant's folder."""
    name = "print-letter" if by == "letter" else "send-booking-sms"
    sent, refused = [], []
    tenant = await storage.tenant(session, tenant_id)
    for order in orders:
        try:
            await transition(session, deps, order, name, actor=actor, tenant=tenant)
            sent.append({"booking_id": order.id, "booking_code": order.booking_code})
        except TransitionRefused as exc:
            refused.append({"booking_id": order.id, "reasons": [exc.detail]})
    return {"sent": sent, "refused": refused}


# --- messages from other services ------------------------------------------------------------


async def reminder_due(session: AsyncSession, event: ReminderDue, envelope: Envelope, *, deps: Deps) -> None:
    """A timer came back. Whatever it was for happens only if the booking is still in the state
    and version it was set for: a booking confirmed or cancelled meanwhile gets nothing."""
    try:
        booking_id = uuid.UUID(str(event.payload.get("booking_id")))
    except ValueError:
        _log.info("reminder %s is not about a booking", event.timer_key)
        return
    booking = await storage.booking(session, envelope.tenant_id, booking_id, lock=True)
    if booking is None:
        _log.warning("reminder %s for unknown booking %s", event.timer_key, booking_id)
        return
    await storage.add_reminder_received(session, booking_id, event.timer_key, event.due_at, event.fired_at, event.lateness_ms)
    kind = event.payload.get("kind")
    if kind == "reminder":
        return
    if not domain.still_meant(booking, event.payload):
        _log.info("reminder %s is stale: booking %s is %s (v%s)", event.timer_key, booking_id, booking.state, booking.version)
        return
    tenant = await storage.tenant(session, envelope.tenant_id)
    if kind == "confirm-reminder":
        await _publish(session, envelope.tenant_id, domain.reminder_due(booking, tenant, kind, event.due_at, deps.my_pages_url(booking)))
    elif kind == "release":
        await transition(session, deps, booking, "release", actor="system", reason="not confirmed by the deadline", tenant=tenant)
    elif kind == "booking-reminder":
        await transition(session, deps, booking, "no-answer", actor="system", reason="no answer in time", tenant=tenant)
    elif kind == "appointment-reminder":
        await outbox.put(session, domain.appointment_reminder(booking, tenant), tenant_id=envelope.tenant_id)
    else:
        _log.warning("reminder %s of unknown kind %r", event.timer_key, kind)


async def reply_received(session: AsyncSession, event: ReplyReceived, envelope: Envelope, *, deps: Deps) -> None:
    """B3: a reply `CODE text` moves the order; an unknown code is kept for the planner and
    changes nothing. Every reply is kept with what it did."""
    if await storage.reply_known(session, event.reply_id):
        _log.info("reply %s was handled before", event.reply_id)
        return
    reply = domain.parse_reply(event.text)
    booking = await storage.booking_by_code(session, envelope.tenant_id, reply.code) if reply else None
    outcome = "unknown code"
    if booking is not None:
        name = domain.reply_transition(reply.answer)
        try:
            after = await transition(session, deps, booking, name, actor="customer", reason=f"replied {reply.answer.strip()!r}")
            outcome = f"{name}: {booking.state} -> {after.state}"
        except TransitionRefused:
            outcome = f"no change: the order is {booking.state}"
    else:
        _log.info("reply from %s names no known booking code; kept for the planner", event.sender)
    await storage.add_reply(
        session, reply_id=event.reply_id, tenant_id=envelope.tenant_id, booking_id=booking.id if booking else None,
        sender=event.sender, text=event.text, code=reply.code if reply else None, outcome=outcome, received_at=event.received_at,
    )
