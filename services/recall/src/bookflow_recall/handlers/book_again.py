"""Book-again reminders (flow D, seed 003): staff set one from a booking, the scheduler's timer
hands it back when due, one SMS goes out with a signed link to online booking, and anything that
stops it before then (D4) cancels it with the reason.

The guarantee for "a booking made just before the send stops it" (D4). `booking.created` and
`reminder.due` arrive on different topics, so the due timer may be handled before a booking made
100 ms earlier. A due reminder therefore waits (state `due`) until this service has handled every
`booking.created` published up to `settle` after the reminder's instant, on every partition of
the topic, by whichever replica reads it (each replica reports how far it has read; see
storage.projection.caught_up_everywhere). Only then is the decision taken, against the
projection, in one transaction with the SMS request. So:

- a booking whose event reached Kafka no later than `settle` (default 2 s) after the reminder's
  instant always stops the SMS: it is in the projection when the decision is taken;
- a booking made before the instant whose event came later still (the booking service was down,
  its relay stalled) is noticed when it arrives: the SMS is withdrawn (`notification.withdraw`),
  which stops it if it has not left yet (held for quiet hours, queued), and the history says so;
- if this service cannot tell how far it has read (the consumer is behind or down), reminders
  wait rather than go out unchecked.
"""
from __future__ import annotations

import logging
import uuid
from datetime import timedelta

from prometheus_client import Counter
from sqlalchemy.ext.asyncio import AsyncSession

from bookflow_contracts import (
    CancelTimer, Envelope, NotificationStatusChanged, ReminderDue, SendNotification, SetTimer, WithdrawNotifications, timer_owner,
)
from bookflow_recall.domain import book_again as rules
from bookflow_recall.domain.book_again import Reminder
from bookflow_recall.domain.calendar import Unit
from bookflow_recall.handlers import Deps
from bookflow_recall.storage import book_again as reminders
from bookflow_recall.storage import projection
from bookflow_recall.storage import recall as recall_storage
from bookflow_recall.views import BookAgainCard
from bookflow_runtime import faults, outbox
from bookflow_runtime.auth import Staff, sign_link
from bookflow_runtime.database import Database, after_commit
from bookflow_runtime.errors import BookflowError, Conflict, NotFound
from bookflow_runtime.runtime import ServiceRuntime

_log = logging.getLogger(__name__)
ONLINE_BOOKING = "online-booking"
"""The link purpose of the booking service's online booking page."""
TEMPLATE = "book-again"
CONSUMER = "bookings"
"""The consumer of `booking.created` whose progress a due reminder waits for."""
_SEND_IDS = uuid.UUID("0f5b8e9a-2c41-4a77-9d0e-5b3c7a1e6f20")

SENT = Counter("bookflow_book_again_sent_total", "Book-again SMS asked for")
STOPPED = Counter("bookflow_book_again_cancelled_total", "Book-again reminders cancelled before sending", ["reason"])


class BookAgainRefused(BookflowError):
    """D1: the reminder cannot be set (no consent, a deleted booking, no mobile number)."""

    status = 409
    title = "No book-again reminder can be set"

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code


def timer_key(reminder_id: uuid.UUID) -> str:
    return f"book-again:{reminder_id}"


def regarding(reminder_id: uuid.UUID) -> str:
    return f"book-again:{reminder_id}"


def booking_link(deps: Deps, tenant_id: str, customer_id: uuid.UUID, service: str, source: str, ref: uuid.UUID) -> str:
    """A signed link to the booking service's online booking page for this customer and service;
    a booking made through it arrives with `source` and `source_ref` (D5)."""
    token = sign_link(deps.settings.link_secret or "", ONLINE_BOOKING,
                      {"t": tenant_id, "c": str(customer_id), "s": service, "src": source, "r": str(ref)})
    return f"{deps.settings.booking_public_url.rstrip('/')}/book/{token}"


# --- staff -----------------------------------------------------------------------------------


async def set_reminder(session: AsyncSession, deps: Deps, staff: Staff, tenant_id: str, booking_id: uuid.UUID,
                       after: int, unit: Unit) -> BookAgainCard:
    """D1: remind the booking's customer to book again `after` days, weeks or months from today
    (in the tenant's zone), replacing any reminder the customer has."""
    booking = await projection.booking(session, tenant_id, booking_id)
    if booking is None:
        raise NotFound(f"no booking {booking_id} is known here (yet): bookings reach recall a moment after they are made")
    calendar = await recall_storage.calendar(session, tenant_id)
    if calendar is None:
        raise Conflict("the tenant's time zone has not reached the recall service yet; try again in a moment")
    found = await projection.customer(session, tenant_id, booking.customer_id)
    try:
        rules.may_set(found[0] if found else None, booking.state)
    except rules.NotAllowed as refused:
        raise BookAgainRefused(refused.code, str(refused)) from refused
    now = deps.clock()
    day, due_at = calendar.later(now, after, unit)
    old = await reminders.active_of_customer(session, tenant_id, booking.customer_id)
    if old is not None:
        await _stop(session, old, rules.REPLACED, now)
    reminder = Reminder(uuid.uuid4(), tenant_id, booking.customer_id, booking_id, booking.service, after, unit, now, due_at, "scheduled")
    await reminders.insert(session, reminder, staff.actor)
    await reminders.add_event(session, reminder.id, now, "set", f"after {after} {unit}, to be sent on {day.isoformat()}")
    await outbox.put(session, SetTimer(timer_key=timer_key(reminder.id), due_at=due_at, payload={"reminder_id": str(reminder.id)}),
                     tenant_id=tenant_id)
    return await card(session, tenant_id, booking.customer_id)


async def remove_reminder(session: AsyncSession, deps: Deps, staff: Staff, tenant_id: str, reminder_id: uuid.UUID) -> BookAgainCard:
    """Staff remove a reminder before it is sent."""
    reminder = await reminders.get(session, tenant_id, reminder_id, lock=True)
    if reminder is None:
        raise NotFound(f"no book-again reminder {reminder_id}")
    if not reminder.active:
        raise Conflict(f"the reminder is already {reminder.state}")
    await _stop(session, reminder, rules.BY_STAFF, deps.clock())
    return await card(session, tenant_id, reminder.customer_id)


async def card(session: AsyncSession, tenant_id: str, customer_id: uuid.UUID) -> BookAgainCard:
    """D3: the customer's active reminder and every reminder with its history."""
    views = await reminders.views(session, tenant_id, customer_id)
    return BookAgainCard(customer_id=customer_id, active=next((v for v in views if v.active), None), reminders=views)


async def card_of_booking(session: AsyncSession, tenant_id: str, booking_id: uuid.UUID) -> BookAgainCard:
    """D3: what a booking shows: its customer's reminders (seed 003: "synas på alla gamla och framtida bokningar")."""
    booking = await projection.booking(session, tenant_id, booking_id)
    if booking is None:
        raise NotFound(f"no booking {booking_id}")
    return await card(session, tenant_id, booking.customer_id)


async def _stop(session: AsyncSession, reminder: Reminder, reason: str, at, booking_id: uuid.UUID | None = None) -> None:
    """Cancel an active reminder and its timer."""
    await reminders.cancel(session, reminder.id, reason, at, booking_id)
    if reminder.state == "scheduled":
        await outbox.put(session, CancelTimer(timer_key=timer_key(reminder.id)), tenant_id=reminder.tenant_id)
    STOPPED.labels(reason).inc()


# --- what other services tell ----------------------------------------------------------------


async def on_booking_made(session: AsyncSession, deps: Deps, tenant_id: str, *, booking_id: uuid.UUID, customer_id: uuid.UUID,
                          booked_at, source: str, source_ref: str | None) -> None:
    """D4: a booking made after the reminder was set stops it, or withdraws its SMS if that was
    already asked for and has not gone out; D5: a booking through the link joins its history."""
    active = await reminders.active_of_customer(session, tenant_id, customer_id)
    if active is not None and rules.booking_stops(active, booked_at, booking_id):
        await _stop(session, active, rules.BOOKED_FIRST, deps.clock(), booking_id)
    for sent in await reminders.withdrawable_of_customer(session, tenant_id, customer_id):
        if rules.booking_withdraws(sent, booked_at, source_ref):
            await outbox.put(session, WithdrawNotifications(regarding=regarding(sent.id), reason=rules.BOOKED_FIRST,
                                                            booking_id=sent.booking_id, customer_id=customer_id), tenant_id=tenant_id)
            await reminders.add_event(session, sent.id, deps.clock(), "withdrawal-asked", rules.BOOKED_FIRST, booking_id)
    if source == "book-again" and source_ref:
        try:
            via = uuid.UUID(source_ref)
        except ValueError:
            return
        if await reminders.get(session, tenant_id, via) is not None:
            await reminders.add_event(session, via, booked_at, "booked-via-link", "the customer booked through the reminder's link",
                                      booking_id)


async def on_booking_deleted(session: AsyncSession, deps: Deps, tenant_id: str, booking_id: uuid.UUID) -> None:
    """D4: deleting the booking a reminder was set from stops the reminder."""
    for reminder in await reminders.active_from_booking(session, tenant_id, booking_id):
        await _stop(session, reminder, rules.BOOKING_DELETED, deps.clock(), booking_id)


async def on_customer_changed(session: AsyncSession, deps: Deps, tenant_id: str, customer_id: uuid.UUID, *, changed: set[str],
                              changed_at, consent: bool | None, consent_changed_at) -> None:
    """D4: a change of name, e-mail or phone after the reminder was set stops it; so does
    withdrawn consent."""
    active = await reminders.active_of_customer(session, tenant_id, customer_id)
    if active is None:
        return
    if rules.contact_change_stops(active, changed, changed_at):
        await _stop(session, active, rules.CONTACT_CHANGED, deps.clock())
    elif consent is False and (consent_changed_at or changed_at) > active.set_at:
        await _stop(session, active, rules.CONSENT_WITHDRAWN, deps.clock())


async def reminder_due(session: AsyncSession, message: ReminderDue, envelope: Envelope, *, deps: Deps) -> None:
    """The scheduler handed a book-again timer back: the reminder waits a moment for bookings
    made just before (see the module's guarantee), then the sender decides."""
    if timer_owner(message.timer_key) != "book-again":
        return
    try:
        reminder_id = uuid.UUID(message.timer_key.split(":", 1)[1])
    except ValueError:
        _log.warning("ignoring book-again timer with a malformed key %s", message.timer_key)
        return
    reminder = await reminders.get(session, envelope.tenant_id, reminder_id, lock=True)
    if reminder is None or reminder.state != "scheduled":
        return  # cancelled or replaced meanwhile, or a firing already handled
    await reminders.mark_due(session, reminder.id, deps.clock())
    after_commit(session, deps.sending.wake)


async def delivery_changed(session: AsyncSession, message: NotificationStatusChanged, envelope: Envelope, deps: Deps) -> bool:
    """D3, D6: the SMS's status, and when delivered its cost and payer. True if it was ours."""
    if not (message.regarding or "").startswith("book-again:"):
        return False
    try:
        reminder_id = uuid.UUID(message.regarding.split(":", 1)[1])  # type: ignore[union-attr]
    except ValueError:
        return False
    await reminders.record_delivery(session, envelope.tenant_id, reminder_id, message.status, message.at, reason=message.reason,
                                    cost=message.cost, currency=message.currency, payer=message.payer, segments=message.segments)
    return True


# --- sending ---------------------------------------------------------------------------------


class BookAgainSender:
    """Decides due reminders once `booking.created` has been read far enough (the module's
    guarantee), and asks for the SMS in the same transaction that marks the reminder sent."""

    def __init__(self, db: Database, runtime: ServiceRuntime, deps: Deps, *, batch_size: int = 200) -> None:
        self.db, self.runtime, self.deps, self.batch_size = db, runtime, deps, batch_size
        self.settle = timedelta(seconds=deps.settings.book_again_settle_seconds)

    async def round(self) -> float:
        """One round: report how far this replica has read, then send what may be sent."""
        s = self.deps.settings
        progress = self.runtime.consumer_progress(CONSUMER)
        now = self.deps.clock()
        async with self.db.transaction() as session:
            await projection.report_progress(session, self.deps.replica, CONSUMER, progress.caught_up_at, progress.caught_up,
                                             progress.partitions, now)
            covered = await projection.caught_up_everywhere(session, CONSUMER, now, timedelta(seconds=s.progress_stale_seconds))
            due = [] if covered is None else await reminders.claim_due(session, covered - self.settle, self.batch_size)
            for reminder in due:
                await self._decide(session, reminder)
            if due:
                faults.point("recall.book-again-before-commit")
            waiting = await reminders.waiting_count(session) > 0
        if len(due) == self.batch_size:
            return 0
        return 0.1 if waiting else s.book_again_poll_seconds

    async def _decide(self, session: AsyncSession, reminder: Reminder) -> None:
        tenant_id = reminder.tenant_id
        found = await projection.customer(session, tenant_id, reminder.customer_id)
        origin = await projection.booking(session, tenant_id, reminder.booking_id)
        booked = await projection.first_booked_after(session, tenant_id, reminder.customer_id, reminder.set_at)
        if booked is not None and booked.booking_id == reminder.booking_id:
            booked = None
        now = self.deps.clock()
        reason = rules.reason_to_stop(reminder, found[0] if found else None, origin.state if origin else None,
                                      booked.booked_at if booked else None)
        if reason is not None:
            await reminders.cancel(session, reminder.id, reason, now, booked.booking_id if booked and reason == rules.BOOKED_FIRST else None)
            STOPPED.labels(reason).inc()
            return
        assert found is not None
        link = booking_link(self.deps, tenant_id, reminder.customer_id, reminder.service, "book-again", reminder.id)
        request = SendNotification(
            idempotency_key=f"book-again:{reminder.id}", customer=found[1], channels=["sms"], template_key=TEMPLATE,
            data={"service": reminder.service, "booking_url": link}, booking_id=reminder.booking_id, purpose="marketing",
            regarding=regarding(reminder.id),
        )
        await outbox.put(session, request, tenant_id=tenant_id, event_id=uuid.uuid5(_SEND_IDS, str(reminder.id)))
        await reminders.mark_sent(session, reminder.id, now)
        SENT.inc()
