"""What staff and customers read, as typed models, each built by one read query: a booking with
its history, replies and reminders; lists of bookings, technicians, slots and freed slots;
replies no order matched; a customer's My page. Reads never change anything."""
from __future__ import annotations

import dataclasses
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, Literal

import sqlalchemy as sa
from pydantic import AwareDatetime, BaseModel, Field
from sqlalchemy.dialects import postgresql as pg
from sqlalchemy.ext.asyncio import AsyncSession

from bookflow_booking import domain, page_texts, storage
from bookflow_booking.storage import (
    booking_history, bookings, customers, freed_slots, log_entries, messages, reminders_received, replies, shared_comments, slots,
    technicians, tenants,
)
from bookflow_contracts import Address, CatalogService, Subject, WorkLine
from bookflow_contracts.parts import BookingFlow, BookingSource, BookingState, Channel, Language
from bookflow_runtime.auth import LinkInvalid
from bookflow_runtime.errors import InvalidInput, NotFound

FreedReason = Literal["released", "rebooked", "cancelled", "deleted"]


class InvalidSearch(InvalidInput):
    code = "invalid-search"
    title = "The search cannot be made like this"


# --- models ----------------------------------------------------------------------------------


class HistoryEntry(BaseModel):
    from_state: BookingState
    to_state: BookingState
    transition: str = Field(description="Such as `confirm`, `release`, `accept-reply`.")
    actor: str = Field(description="`customer`, `system` or `staff:<id>`.")
    reason: str | None = None
    at: AwareDatetime


class ReplyView(BaseModel):
    reply_id: uuid.UUID
    sender: str = Field(description="The number or address the reply came from.")
    text: str
    code: str | None = Field(None, description="The booking code the reply began with.")
    outcome: str = Field(description="What the reply did, such as `accept-reply: awaiting-response -> ready-for-execution`.")
    received_at: AwareDatetime


class ReminderReceived(BaseModel):
    timer_key: str
    due_at: AwareDatetime
    fired_at: AwareDatetime
    lateness_ms: int = Field(description="How late the scheduler fired it, in milliseconds.")
    received_at: AwareDatetime


class BookingSummary(BaseModel):
    """A booking or work order as lists show it."""

    id: uuid.UUID
    state: BookingState
    flow: BookingFlow
    service: str
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    customer_id: uuid.UUID = Field(description="The customer, the same for all their bookings.")
    customer_name: str
    phone: str | None = None
    email: str | None = None
    place: Address | None = None
    technician_id: uuid.UUID | None = None
    sequence: int | None = None
    slot_id: uuid.UUID | None = None
    booking_code: str | None = None
    confirmed: bool = Field(description="Whether the customer (or staff on their word) confirmed the time.")
    state_reason: str | None = None
    hold_until: date | None = None
    rebooked_from: uuid.UUID | None = None
    rebooked_to: uuid.UUID | None = None
    source: BookingSource = Field("staff", description="Where the booking came from.")
    source_ref: str | None = Field(None, description="The reminder, recall or booking that made it.")
    via: str | None = Field(None, description="Where it came from in words, such as `via book-again reminder` (D5).")
    deleted: bool = Field(False, description="Deleted by staff: kept, never active.")


class BookingView(BookingSummary):
    """One booking with what happened to it: its planned work, its history, the customer's
    replies and the reminders that came due."""

    work_lines: list[WorkLine] = Field(default_factory=list, description="The planned work, with prices including VAT.")
    subject: Subject | None = Field(None, description="What the work is on.")
    extra_info: str | None = Field(None, description="Extra information printed on the notice.")
    reminders_received: list[ReminderReceived] = Field(default_factory=list)
    history: list[HistoryEntry] = Field(default_factory=list)
    replies: list[ReplyView] = Field(default_factory=list)


class Technician(BaseModel):
    id: uuid.UUID
    name: str


class SlotView(BaseModel):
    id: uuid.UUID
    technician_id: uuid.UUID | None = None
    service: str
    starts_at: AwareDatetime
    ends_at: AwareDatetime


class FreedSlot(BaseModel):
    slot_id: uuid.UUID
    booking_id: uuid.UUID = Field(description="The booking that held it.")
    reason: FreedReason
    freed_at: AwareDatetime
    service: str
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    technician_id: uuid.UUID | None = None
    still_free: bool = Field(description="False once someone booked it again.")


class StatusEntry(BaseModel):
    status: str
    at: AwareDatetime
    reason: str | None = None


class LoggedMessage(BaseModel):
    """One message of the communication log (A6, X4), as `notification.status` told of it."""

    id: uuid.UUID = Field(description="The message's id in the notification service.")
    booking_id: uuid.UUID | None = None
    customer_id: uuid.UUID
    channel: Channel
    template_key: str | None = None
    status: str = Field(description="queued, sent, delivered, failed, suppressed or withdrawn: the latest.")
    reason: str | None = Field(None, description="Why it failed, was suppressed or withdrawn.")
    provider: str | None = None
    segments: int | None = None
    cost: Decimal | None = Field(None, description="Billed for it (delivered SMS), before VAT.")
    currency: str | None = None
    created_at: AwareDatetime = Field(description="The first status heard of.")
    sent_at: AwareDatetime | None = None
    delivered_at: AwareDatetime | None = None
    failed_at: AwareDatetime | None = None
    withdrawn_at: AwareDatetime | None = None
    history: list[StatusEntry] = Field(default_factory=list, description="Each status with when and why.")


class LogEntry(BaseModel):
    """One line of a booking's or customer's communication log: a message, or something the
    customer did elsewhere (changed contact details at check-in, answered a check-in)."""

    kind: Literal["message", "contact-change", "check-in"]
    at: AwareDatetime
    booking_id: uuid.UUID | None = None
    text: str = Field(description="What happened, in words.")
    message: LoggedMessage | None = Field(None, description="The message, for `kind: message`.")
    details: dict[str, Any] = Field(default_factory=dict, description="Such as the fields changed and their new values.")


class SharedFileLink(BaseModel):
    name: str
    content_type: str
    size: int
    url: str = Field(description="The file on the check-in service (staff token needed).")


class SharedComment(BaseModel):
    """A check-in comment the receptionist made visible to mechanics (C6)."""

    comment_id: uuid.UUID
    subject: str
    description: str
    files: list[SharedFileLink] = Field(default_factory=list)


class WorkListEntry(BookingSummary):
    """A booking on the technician's work list, with its planned work and what the customer
    told the mechanics at check-in."""

    work_lines: list[WorkLine] = Field(default_factory=list)
    subject: Subject | None = None
    shared_comments: list[SharedComment] = Field(default_factory=list)


class CustomerSummary(BaseModel):
    id: uuid.UUID
    name: str
    phone: str | None = Field(None, description="E.164.")
    email: str | None = None
    customer_number: str | None = None
    language: Language | None = None
    preferred_channel: Channel | None = None


class CustomerCard(CustomerSummary):
    """The customer card: contact details, language, preferred channel, consent, the customer's
    bookings (deleted ones left out unless asked) and their communication log."""

    address: Address | None = Field(None, description="Postal address.")
    marketing_consent: bool | None = Field(None, description="Consent to book-again and recall messages; null: never recorded.")
    consent_changed_at: AwareDatetime | None = None
    consent_source: Literal["staff", "my-pages", "check-in"] | None = None
    created_at: AwareDatetime
    updated_at: AwareDatetime
    bookings: list[BookingSummary] = Field(default_factory=list)
    communication_log: list[LogEntry] = Field(default_factory=list)


# --- bookings --------------------------------------------------------------------------------


def _summary(row: Any) -> dict[str, Any]:
    return {
        "id": row["id"], "state": row["state"], "flow": row["flow"], "service": row["service"], "starts_at": row["starts_at"],
        "ends_at": row["ends_at"], "customer_id": row["customer_id"], "customer_name": row["name"], "phone": row["phone"],
        "email": row["email"], "source": row["source"], "source_ref": row["source_ref"], "via": domain.VIA.get(row["source"]),
        "deleted": row["state"] == domain.DELETED,
        "place": storage.address_of(row), "technician_id": row["technician_id"], "sequence": row["sequence"],
        "slot_id": row["slot_id"], "booking_code": row["booking_code"], "confirmed": row["state"] in domain.WORK_LIST_STATES,
        "state_reason": row["state_reason"], "hold_until": row["hold_until"], "rebooked_from": row["rebooked_from"],
        "rebooked_to": row["rebooked_to"],
    }


def _json_list(order_by: sa.ColumnElement, where: sa.ColumnElement, **fields: sa.ColumnElement) -> sa.ScalarSelect:
    """A JSON array of one object per row (`fields` by name), in order; `[]` when there is none."""
    row = sa.func.json_build_object(*(part for name, column in fields.items() for part in (sa.literal_column(f"'{name}'"), column)))
    aggregated = sa.func.json_agg(pg.aggregate_order_by(row, order_by))
    return sa.select(sa.func.coalesce(aggregated, sa.literal_column("'[]'::json"))).where(where).scalar_subquery()


def _booking_query() -> sa.Select:
    r, h, p = reminders_received.c, booking_history.c, replies.c
    return storage.with_customer().add_columns(
        _json_list(r.due_at, r.booking_id == bookings.c.id, timer_key=r.timer_key, due_at=r.due_at, fired_at=r.fired_at,
                   lateness_ms=r.lateness_ms, received_at=r.received_at).label("reminders_received"),
        _json_list(h.id, h.booking_id == bookings.c.id, from_state=h.from_state, to_state=h.to_state, transition=h.transition,
                   actor=h.actor, reason=h.reason, at=h.at).label("history"),
        _json_list(p.received_at, p.booking_id == bookings.c.id, reply_id=p.reply_id, sender=p.sender, text=p.text, code=p.code,
                   outcome=p.outcome, received_at=p.received_at).label("replies"),
    ).where(bookings.c.id == sa.bindparam("booking_id"), bookings.c.tenant_id == sa.bindparam("tenant_id"))


_BOOKING = _booking_query()
"""Built once, as the hot reads are (`_WORK_LIST`): building took a third of a request's CPU."""


async def booking(session: AsyncSession, tenant_id: str, booking_id: uuid.UUID) -> BookingView:
    """The booking with its history, replies and reminders received, in one query; NotFound
    also for another tenant's booking."""
    row = (await session.execute(_BOOKING, {"booking_id": booking_id, "tenant_id": tenant_id})).mappings().first()
    if row is None:
        raise NotFound(f"no booking {booking_id}")
    return BookingView.model_validate(
        _summary(row) | {"reminders_received": row["reminders_received"], "history": row["history"], "replies": row["replies"],
                         "work_lines": row["work_lines"], "subject": row["subject"], "extra_info": row["extra_info"]})


async def booking_seen_by(session: AsyncSession, tenant_id: str, booking_id: uuid.UUID, *, desk: bool) -> BookingView:
    """The booking as a staff member may open it: at the desk, any; a technician only one that
    belongs on a work list (A5), and another is not found rather than forbidden."""
    view = await booking(session, tenant_id, booking_id)
    if not desk and view.state not in domain.WORK_LIST_STATES:
        raise NotFound(f"no booking {booking_id}")
    return view


def _on_local_day(day: date) -> sa.ColumnElement:
    """Bookings starting on `day` in their tenant's zone (the query joins `tenants`)."""
    return sa.cast(sa.func.timezone(tenants.c.time_zone, bookings.c.starts_at), sa.Date) == day


async def bookings_of(session: AsyncSession, tenant_id: str, *, states: tuple[str, ...] = (), technician_id: uuid.UUID | None = None,
                      service: str | None = None, day: date | None = None, customer_id: uuid.UUID | None = None,
                      include_deleted: bool = False, limit: int = 500) -> list[BookingSummary]:
    """The tenant's bookings by state, technician, service, customer and local day, in booking
    order. Deleted bookings only when asked for (by state, or `include_deleted`)."""
    query = storage.filtered(storage.with_customer().join(tenants, tenants.c.id == bookings.c.tenant_id), tenant_id,
                             states=states, technician_id=technician_id, service=service)
    if not include_deleted and domain.DELETED not in states:
        query = query.where(bookings.c.state != domain.DELETED)
    if customer_id is not None:
        query = query.where(bookings.c.customer_id == customer_id)
    if day is not None:
        query = query.where(_on_local_day(day))
    return [BookingSummary.model_validate(_summary(r)) for r in (await session.execute(query.limit(limit))).mappings()]


def _work_list_query() -> sa.Select:
    sc = shared_comments.c
    comments = _json_list(sc.updated_at, (sc.booking_id == bookings.c.id) & sc.visible, comment_id=sc.comment_id, subject=sc.subject,
                          description=sc.description, files=sc.files)
    return (storage.filtered(storage.with_customer().add_columns(comments.label("shared_comments"))
                             .join(tenants, tenants.c.id == bookings.c.tenant_id), sa.bindparam("tenant_id"),
                             states=domain.WORK_LIST_STATES, technician_id=sa.bindparam("technician_id"))
            .where(_on_local_day(sa.bindparam("day", type_=sa.Date))))


_WORK_LIST = _work_list_query()
"""Built once: technicians' work lists are read all day long, and building the statement anew
took a quarter of a request's CPU (bench/README.md, "Rush")."""


async def work_list(session: AsyncSession, tenant_id: str, technician_id: uuid.UUID, day: date, checkin_url: str = "") -> list[WorkListEntry]:
    """A technician's day (A5, B8) in the tenant's zone: only bookings the customer confirmed or
    that are ready for execution, in booking order, each with its planned work and the check-in
    comments shared with mechanics (C6); NotFound for a technician the tenant does not have."""
    rows = (await session.execute(_WORK_LIST, {"tenant_id": tenant_id, "technician_id": technician_id, "day": day})).mappings().all()
    technician = sa.select(technicians.c.id).where(technicians.c.id == technician_id, technicians.c.tenant_id == tenant_id)
    if not rows and not (await session.execute(sa.select(technician.exists()))).scalar():
        raise NotFound(f"no technician {technician_id}")
    base = checkin_url.rstrip("/")

    def shared(comment: dict) -> dict:
        files = [{**f, "url": f"{base}/tenants/{tenant_id}/files/{f['file_id']}"} for f in comment["files"]]
        return {**comment, "files": files}

    return [WorkListEntry.model_validate(_summary(r) | {"work_lines": r["work_lines"], "subject": r["subject"],
                                                        "shared_comments": [shared(c) for c in r["shared_comments"]]})
            for r in rows]


async def unmatched_replies(session: AsyncSession, tenant_id: str) -> list[ReplyView]:
    """Replies whose code matched no order, kept for the planner (B3), oldest first."""
    query = (sa.select(replies.c.reply_id, replies.c.sender, replies.c.text, replies.c.code, replies.c.outcome, replies.c.received_at)
             .where(replies.c.tenant_id == tenant_id, replies.c.booking_id.is_(None)).order_by(replies.c.received_at))
    return [ReplyView.model_validate(dict(r)) for r in (await session.execute(query)).mappings()]


def _message_of(row: Any) -> LoggedMessage:
    return LoggedMessage.model_validate({**dict(row), "id": row["message_id"]})


async def _booking_known(session: AsyncSession, tenant_id: str, booking_id: uuid.UUID) -> None:
    known = sa.select(bookings.c.id).where(bookings.c.id == booking_id, bookings.c.tenant_id == tenant_id).exists()
    if not (await session.execute(sa.select(known))).scalar():
        raise NotFound(f"no booking {booking_id}")


async def communication_log(session: AsyncSession, tenant_id: str, booking_id: uuid.UUID) -> list[LoggedMessage]:
    """The booking's messages (A6), oldest first, from the booking service's own projection of
    `notification.status`: no question is asked of the notification service."""
    await _booking_known(session, tenant_id, booking_id)
    query = sa.select(messages).where(messages.c.tenant_id == tenant_id, messages.c.booking_id == booking_id).order_by(messages.c.created_at)
    return [_message_of(r) for r in (await session.execute(query)).mappings()]


async def _log(session: AsyncSession, tenant_id: str, where_message: sa.ColumnElement, where_entry: sa.ColumnElement,
               limit: int = 500) -> list[LogEntry]:
    """Messages and other entries, merged by time, oldest first."""
    found = [
        LogEntry(kind="message", at=m.created_at, booking_id=m.booking_id, message=m,
                 text=f"{m.template_key or 'message'} by {m.channel}: {m.status}" + (f" ({m.reason})" if m.reason else ""))
        for m in (_message_of(r) for r in (await session.execute(
            sa.select(messages).where(messages.c.tenant_id == tenant_id, where_message)
            .order_by(messages.c.created_at.desc()).limit(limit))).mappings())
    ]
    query = (sa.select(log_entries).where(log_entries.c.tenant_id == tenant_id, where_entry)
             .order_by(log_entries.c.at.desc()).limit(limit))
    found += [LogEntry(kind=r["kind"], at=r["at"], booking_id=r["booking_id"], text=r["text"], details=r["details"])
              for r in (await session.execute(query)).mappings()]
    return sorted(found, key=lambda e: e.at)[-limit:]


async def booking_log(session: AsyncSession, tenant_id: str, booking_id: uuid.UUID) -> list[LogEntry]:
    """The booking's communication log: its messages and what the customer did about it elsewhere."""
    await _booking_known(session, tenant_id, booking_id)
    return await _log(session, tenant_id, messages.c.booking_id == booking_id, log_entries.c.booking_id == booking_id)


# --- customers -------------------------------------------------------------------------------


def _customer_summary(row: Any) -> dict[str, Any]:
    return {k: row[k] for k in ("id", "name", "phone", "email", "customer_number", "language", "preferred_channel")}


async def customer_card(session: AsyncSession, tenant_id: str, customer_id: uuid.UUID, *, include_deleted: bool = False) -> CustomerCard:
    """The customer card; NotFound also for another tenant's customer."""
    row = (await session.execute(sa.select(customers).where(customers.c.id == customer_id, customers.c.tenant_id == tenant_id))).mappings().first()
    if row is None:
        raise NotFound(f"no customer {customer_id}")
    found = storage.customer_of(row)
    booked = await bookings_of(session, tenant_id, customer_id=customer_id, include_deleted=include_deleted)
    log = await _log(session, tenant_id, messages.c.customer_id == customer_id, log_entries.c.customer_id == customer_id)
    return CustomerCard.model_validate(_customer_summary(row) | {
        "address": found.address, "marketing_consent": found.marketing_consent, "consent_changed_at": found.consent_changed_at,
        "consent_source": found.consent_source, "created_at": row["created_at"], "updated_at": row["updated_at"],
        "bookings": booked, "communication_log": log,
    })


def _like(text: str) -> str:
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


async def find_customers(session: AsyncSession, tenant_id: str, *, name: str | None = None, phone: str | None = None,
                         email: str | None = None, customer_number: str | None = None, limit: int = 100) -> list[CustomerSummary]:
    """Customers whose name contains `name` (any case), with this phone number (read as the
    tenant's customers write it), e-mail address (any case) or customer number; every criterion
    given must hold. By name."""
    if phone:
        try:
            phone = domain.e164(phone, (await tenant(session, tenant_id)).time_zone)
        except domain.InvalidCustomer as exc:
            raise InvalidSearch(str(exc)) from exc
    query = sa.select(customers).where(customers.c.tenant_id == tenant_id)
    if name:
        query = query.where(customers.c.name.ilike(_like(name), escape="\\"))
    if phone:
        query = query.where(customers.c.phone == phone)
    if email:
        query = query.where(sa.func.lower(customers.c.email) == email.lower())
    if customer_number:
        query = query.where(customers.c.customer_number == customer_number)
    rows = (await session.execute(query.order_by(customers.c.name, customers.c.id).limit(limit))).mappings()
    return [CustomerSummary.model_validate(_customer_summary(r)) for r in rows]


async def catalog(session: AsyncSession, tenant_id: str) -> list[CatalogService]:
    """The tenant's service catalog, by service key."""
    return await storage.catalog(session, tenant_id)


# --- technicians and slots -------------------------------------------------------------------


async def technicians_of(session: AsyncSession, tenant_id: str) -> list[Technician]:
    query = sa.select(technicians.c.id, technicians.c.name).where(technicians.c.tenant_id == tenant_id).order_by(technicians.c.name)
    return [Technician.model_validate(dict(r)) for r in (await session.execute(query)).mappings()]


async def technician(session: AsyncSession, tenant_id: str, technician_id: uuid.UUID) -> Technician:
    query = sa.select(technicians.c.id, technicians.c.name).where(technicians.c.id == technician_id, technicians.c.tenant_id == tenant_id)
    row = (await session.execute(query)).mappings().first()
    if row is None:
        raise NotFound(f"no technician {technician_id}")
    return Technician.model_validate(dict(row))


async def slot(session: AsyncSession, tenant_id: str, slot_id: uuid.UUID) -> SlotView:
    found = await storage.slot(session, tenant_id, slot_id)
    if found is None:
        raise NotFound(f"no slot {slot_id}")
    return SlotView(id=found.id, technician_id=found.technician_id, service=found.service, starts_at=found.starts_at, ends_at=found.ends_at)


async def free_slots(session: AsyncSession, tenant_id: str, *, service: str | None, after: datetime, limit: int = 200) -> list[SlotView]:
    """Free slots starting after `after`, earliest first."""
    return [SlotView(id=s.id, technician_id=s.technician_id, service=s.service, starts_at=s.starts_at, ends_at=s.ends_at)
            for s in await _free_slots(session, tenant_id, service=service, after=after, limit=limit)]


async def _free_slots(session: AsyncSession, tenant_id: str, *, service: str | None, after: datetime, limit: int,
                      before: datetime | None = None) -> list[domain.Slot]:
    query = sa.select(slots).where(slots.c.tenant_id == tenant_id, slots.c.booking_id.is_(None), slots.c.starts_at > after)
    if before is not None:
        query = query.where(slots.c.starts_at < before)
    if service is not None:
        query = query.where(slots.c.service == service)
    return [storage.slot_of(r) for r in (await session.execute(query.order_by(slots.c.starts_at).limit(limit))).mappings()]


async def freed_slots_of(session: AsyncSession, tenant_id: str, reason: FreedReason | None) -> list[FreedSlot]:
    """Slots freed by releases, rebookings and cancellations, latest first (A4, A6)."""
    query = (
        sa.select(freed_slots.c.slot_id, freed_slots.c.booking_id, freed_slots.c.reason, freed_slots.c.freed_at,
                  slots.c.service, slots.c.starts_at, slots.c.ends_at, slots.c.technician_id,
                  slots.c.booking_id.is_(None).label("still_free"))
        .join(slots, slots.c.id == freed_slots.c.slot_id)
        .where(freed_slots.c.tenant_id == tenant_id)
        .order_by(freed_slots.c.freed_at.desc())
    )
    if reason is not None:
        query = query.where(freed_slots.c.reason == reason)
    return [FreedSlot.model_validate(dict(r)) for r in (await session.execute(query)).mappings()]


# --- tenants ---------------------------------------------------------------------------------


async def tenant(session: AsyncSession, tenant_id: str) -> domain.Tenant:
    found = await storage.tenant(session, tenant_id)
    if found is None:
        raise NotFound("no such tenant")
    return found


async def tenant_known(session: AsyncSession, tenant_id: str) -> bool:
    return bool((await session.execute(sa.select(sa.select(tenants.c.id).where(tenants.c.id == tenant_id).exists()))).scalar())


# --- My pages --------------------------------------------------------------------------------


@dataclass(frozen=True)
class MyPage:
    """What the customer's page shows: the booking, its tenant, the free slots of its service it
    can move to (only while it can still be rebooked), and the booking that replaced it."""

    booking: domain.Booking
    tenant: domain.Tenant
    free_slots: list[domain.Slot]
    rebooked_to: uuid.UUID | None


REBOOKABLE = (domain.UNCONFIRMED, domain.CONFIRMED, domain.BOOKED)
SLOT_WINDOW = timedelta(weeks=6)
"""My pages offers free times in the six weeks after the booking's own time (or after now, for a
booking already past)."""


async def my_page(session: AsyncSession, tenant_id: str, booking_id: uuid.UUID, now: datetime) -> MyPage | None:
    """The page of a booking, or None when there is no such booking (any more)."""
    row = (await session.execute(
        storage.with_customer().where(bookings.c.id == booking_id, bookings.c.tenant_id == tenant_id))).mappings().first()
    found = await storage.tenant(session, tenant_id) if row else None
    if row is None or found is None:
        return None
    booked = storage.booking_of(row)
    until = max(now, booked.starts_at) + SLOT_WINDOW
    free = await _free_slots(session, tenant_id, service=booked.service, after=now, before=until, limit=200) \
        if booked.state in REBOOKABLE else []
    return MyPage(booked, found, free, row["rebooked_to"])


async def booking_by_short_code(session: AsyncSession, code: str) -> domain.Booking | None:
    """The booking a letter's short link names (`K7Q2-MX9P-AB3D`), or None."""
    known = domain.short_code_of(code)
    return await storage.booking_by_short_code(session, known) if known else None


async def language_of_link(session: AsyncSession, deps: Any, token: str) -> str | None:
    """The language of the customer a genuine My pages link was made for, also once it has
    expired; None for a link that is not ours."""
    try:
        link = dataclasses.replace(deps, link_days=100 * 365).read_my_pages_link(token)
    except LinkInvalid:
        return None
    booked = await storage.booking(session, link.tenant_id, link.booking_id)
    found = await storage.tenant(session, link.tenant_id)
    if found is None:
        return None
    return page_texts.language_for(booked.customer.language if booked else None, found.language)


# --- online booking --------------------------------------------------------------------------


@dataclass(frozen=True)
class OnlineBookingPage:
    """What the online booking page shows (D2): whose it is, the service, its free times in the
    coming weeks, and the booking the link already made, if it did."""

    tenant: domain.Tenant
    customer: domain.Customer
    service: str
    service_name: str
    bookable: bool
    free_slots: list[domain.Slot]
    booked: domain.Booking | None


ONLINE_WINDOW = timedelta(weeks=6)
"""Online booking offers the free times of the coming six weeks."""


async def online_booking_page(session: AsyncSession, tenant_id: str, customer_id: uuid.UUID, service: str, source: str,
                              reminder_id: str | None, now: datetime) -> OnlineBookingPage | None:
    """The page a link to online booking opens, or None when its tenant or customer is gone."""
    found = await storage.tenant(session, tenant_id)
    customer = await storage.customer(session, tenant_id, customer_id) if found else None
    if found is None or customer is None:
        return None
    booked = await storage.booking_from_source(session, tenant_id, customer_id, source, reminder_id) if reminder_id else None
    offered = await storage.catalog_service(session, tenant_id, service)
    bookable = offered is None or offered.bookable_online
    free = await _free_slots(session, tenant_id, service=service, after=now, before=now + ONLINE_WINDOW, limit=200) \
        if bookable and booked is None else []
    return OnlineBookingPage(found, customer, service, offered.name if offered else service, bookable, free, booked)
