"""The check-in service's tables and every query on them; rows leave as typed models."""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from pydantic import TypeAdapter
from sqlalchemy.dialects import postgresql as pg
from sqlalchemy.ext.asyncio import AsyncSession

from bookflow_checkin import domain
from bookflow_contracts import Address, CatalogService, CustomerSnapshot, Subject, WorkLine

metadata = sa.MetaData()

tenants = sa.Table(
    "tenants", metadata,
    sa.Column("tenant_id", sa.Text, primary_key=True),
    sa.Column("name", sa.Text),
    sa.Column("time_zone", sa.Text),
    sa.Column("language", sa.Text),
    sa.Column("contact_phone", sa.Text),
    sa.Column("contact_email", sa.Text),
    sa.Column("currency", sa.Text),
    sa.Column("tenant_at", sa.DateTime(timezone=True)),
    sa.Column("catalog", pg.JSONB, nullable=False, server_default=sa.text("'[]'::jsonb")),
    sa.Column("catalog_at", sa.DateTime(timezone=True)),
)

bad_link_attempts = sa.Table(
    "bad_link_attempts", metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("client", sa.Text, nullable=False),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Index("bad_link_attempts_client", "client", "at"),
    sa.Index("bad_link_attempts_at", "at"),
)

checkin_settings = sa.Table(
    "checkin_settings", metadata,
    sa.Column("tenant_id", sa.Text, primary_key=True),
    sa.Column("enabled", sa.Boolean, nullable=False),
    sa.Column("link_before", sa.Interval, nullable=False),
    sa.Column("convert_to_intervention", pg.JSONB, nullable=False, server_default=sa.text("'[]'::jsonb")),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_by", sa.Text, nullable=False),
)

appointments = sa.Table(
    "appointments", metadata,
    sa.Column("booking_id", pg.UUID(as_uuid=True), primary_key=True),
    sa.Column("tenant_id", sa.Text, nullable=False),
    sa.Column("customer_id", pg.UUID(as_uuid=True), nullable=False),
    sa.Column("service", sa.Text, nullable=False),
    sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("state", sa.Text, nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("created_known", sa.Boolean, nullable=False),
    sa.Column("customer", pg.JSONB),
    sa.Column("customer_at", sa.DateTime(timezone=True)),
    sa.Column("place", pg.JSONB),
    sa.Column("work_lines", pg.JSONB, nullable=False),
    sa.Column("subject", pg.JSONB),
    sa.Column("extra_info", sa.Text),
    sa.Column("link_timer_due", sa.DateTime(timezone=True)),
    sa.Column("link_sent_at", sa.DateTime(timezone=True)),
    sa.Column("link_sent_start", sa.DateTime(timezone=True)),
    sa.Column("answered_at", sa.DateTime(timezone=True)),
    sa.Index("appointments_tenant_start", "tenant_id", "starts_at"),
    sa.Index("appointments_customer", "customer_id"),
)

contact_changes = sa.Table(
    "contact_changes", metadata,
    sa.Column("request_id", pg.UUID(as_uuid=True), primary_key=True),
    sa.Column("tenant_id", sa.Text, nullable=False),
    sa.Column("booking_id", pg.UUID(as_uuid=True), nullable=False),
    sa.Column("customer_id", pg.UUID(as_uuid=True), nullable=False),
    sa.Column("phone", sa.Text),
    sa.Column("email", sa.Text),
    sa.Column("preferred_channel", sa.Text),
    sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("reason", sa.Text),
    sa.Index("contact_changes_booking", "booking_id", "requested_at"),
)

comments = sa.Table(
    "comments", metadata,
    sa.Column("comment_id", pg.UUID(as_uuid=True), primary_key=True),
    sa.Column("tenant_id", sa.Text, nullable=False),
    sa.Column("booking_id", pg.UUID(as_uuid=True), nullable=False),
    sa.Column("subject", sa.Text, nullable=False),
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("shared", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("shared_at", sa.DateTime(timezone=True)),
    sa.Column("shared_by", sa.Text),
    sa.Index("comments_booking", "booking_id", "created_at"),
)

files = sa.Table(
    "files", metadata,
    sa.Column("file_id", pg.UUID(as_uuid=True), primary_key=True),
    sa.Column("tenant_id", sa.Text, nullable=False),
    sa.Column("booking_id", pg.UUID(as_uuid=True), nullable=False),
    sa.Column("comment_id", pg.UUID(as_uuid=True), sa.ForeignKey("comments.comment_id"), nullable=False),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("content_type", sa.Text, nullable=False),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("storage_key", sa.Text, nullable=False, unique=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Index("files_comment", "comment_id"),
)

items = sa.Table(
    "items", metadata,
    sa.Column("item_id", pg.UUID(as_uuid=True), primary_key=True),
    sa.Column("tenant_id", sa.Text, nullable=False),
    sa.Column("booking_id", pg.UUID(as_uuid=True), nullable=False),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("service", sa.Text),
    sa.Column("comment_id", pg.UUID(as_uuid=True), sa.ForeignKey("comments.comment_id")),
    sa.Column("state", sa.Text, nullable=False),
    sa.Column("outcome", sa.Text),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("handled_at", sa.DateTime(timezone=True)),
    sa.Column("handled_by", sa.Text),
    sa.Column("work_line_id", pg.UUID(as_uuid=True), unique=True),
    sa.Column("work_line", pg.JSONB),
    sa.Column("work_line_status", sa.Text),
    sa.Column("work_line_reason", sa.Text),
    sa.CheckConstraint("kind IN ('accepted-service', 'contact-request', 'comment')", name="items_kind"),
    sa.CheckConstraint("state IN ('unhandled', 'handled', 'converted')", name="items_state"),
    sa.Index("items_booking", "booking_id", "created_at"),
    sa.Index("items_service", "booking_id", "service", unique=True, postgresql_where=sa.text("service IS NOT NULL")),
    sa.Index("items_unhandled", "tenant_id", postgresql_where=sa.text("state = 'unhandled'")),
)

_lines = TypeAdapter(tuple[WorkLine, ...])
_catalog = TypeAdapter(tuple[CatalogService, ...])


def _json(model: Any) -> Any:
    return None if model is None else model.model_dump(mode="json")


async def lock_booking(session: AsyncSession, booking_id: uuid.UUID) -> None:
    """Serialise changes to one booking's projection: its events come on different topics and
    may be handled at the same moment by different consumers."""
    await session.execute(sa.select(sa.func.pg_advisory_xact_lock(sa.func.hashtextextended(str(booking_id), 0))))


async def lock_tenant_plans(session: AsyncSession, tenant_id: str, *, everything: bool = False) -> None:
    """Planning one booking's link (shared) and re-planning all of a tenant's (`everything`,
    exclusive) exclude each other, so that neither misses what the other is committing: a
    booking that arrives while the tenant's zone or settings change is planned by one of them."""
    lock = sa.func.pg_advisory_xact_lock if everything else sa.func.pg_advisory_xact_lock_shared
    await session.execute(sa.select(lock(sa.func.hashtextextended(f"tenant-plans:{tenant_id}", 0))))


# --- tenants ------------------------------------------------------------------------------------


def _tenant(row: Any) -> domain.Tenant:
    return domain.Tenant(row.tenant_id, row.name, row.time_zone, row.language, row.contact_phone, row.contact_email,
                         row.currency, _catalog.validate_python(row.catalog or []))


async def tenant(session: AsyncSession, tenant_id: str) -> domain.Tenant | None:
    row = (await session.execute(sa.select(tenants).where(tenants.c.tenant_id == tenant_id))).first()
    return _tenant(row) if row else None


async def save_tenant_basics(session: AsyncSession, tenant_id: str, at: datetime, **values: Any) -> bool:
    """Keep the tenant's name, zone and language unless newer ones are already kept; True if kept."""
    stmt = pg.insert(tenants).values(tenant_id=tenant_id, tenant_at=at, **values)
    stmt = stmt.on_conflict_do_update(
        index_elements=[tenants.c.tenant_id], set_={"tenant_at": at, **values},
        where=sa.or_(tenants.c.tenant_at.is_(None), tenants.c.tenant_at < at),
    ).returning(tenants.c.tenant_id)
    return (await session.execute(stmt)).first() is not None


async def save_catalog(session: AsyncSession, tenant_id: str, at: datetime, services: list[CatalogService]) -> bool:
    catalog = [s.model_dump(mode="json") for s in services]
    stmt = pg.insert(tenants).values(tenant_id=tenant_id, catalog=catalog, catalog_at=at)
    stmt = stmt.on_conflict_do_update(
        index_elements=[tenants.c.tenant_id], set_={"catalog": catalog, "catalog_at": at},
        where=sa.or_(tenants.c.catalog_at.is_(None), tenants.c.catalog_at < at),
    ).returning(tenants.c.tenant_id)
    return (await session.execute(stmt)).first() is not None


# --- settings -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SettingsRow:
    rules: domain.Rules
    updated_at: datetime | None
    updated_by: str | None


async def rules(session: AsyncSession, tenant_id: str) -> SettingsRow:
    row = (await session.execute(sa.select(checkin_settings).where(checkin_settings.c.tenant_id == tenant_id))).first()
    if row is None:
        return SettingsRow(domain.Rules(), None, None)
    return SettingsRow(domain.Rules(row.enabled, row.link_before, frozenset(row.convert_to_intervention)), row.updated_at, row.updated_by)


async def save_rules(session: AsyncSession, tenant_id: str, rules_: domain.Rules, at: datetime, by: str) -> None:
    values = dict(enabled=rules_.enabled, link_before=rules_.link_before,
                  convert_to_intervention=sorted(rules_.convert_to_intervention), updated_at=at, updated_by=by)
    stmt = pg.insert(checkin_settings).values(tenant_id=tenant_id, **values)
    await session.execute(stmt.on_conflict_do_update(index_elements=[checkin_settings.c.tenant_id], set_=values))


# --- appointments -------------------------------------------------------------------------------


def _appointment(row: Any) -> domain.Appointment:
    return domain.Appointment(
        booking_id=row.booking_id, tenant_id=row.tenant_id, customer_id=row.customer_id, service=row.service,
        starts_at=row.starts_at, ends_at=row.ends_at, state=row.state, version=row.version, created_known=row.created_known,
        customer=CustomerSnapshot.model_validate(row.customer) if row.customer else None, customer_at=row.customer_at,
        place=Address.model_validate(row.place) if row.place else None, work_lines=_lines.validate_python(row.work_lines),
        subject=Subject.model_validate(row.subject) if row.subject else None, extra_info=row.extra_info,
        link_timer_due=row.link_timer_due, link_sent_at=row.link_sent_at, link_sent_start=row.link_sent_start,
        answered_at=row.answered_at,
    )


async def appointment(session: AsyncSession, booking_id: uuid.UUID, tenant_id: str | None = None) -> domain.Appointment | None:
    """The appointment; with `tenant_id`, only if it is that tenant's."""
    query = sa.select(appointments).where(appointments.c.booking_id == booking_id)
    if tenant_id is not None:
        query = query.where(appointments.c.tenant_id == tenant_id)
    row = (await session.execute(query)).first()
    return _appointment(row) if row else None


async def save_appointment(session: AsyncSession, a: domain.Appointment) -> None:
    values = dict(
        tenant_id=a.tenant_id, customer_id=a.customer_id, service=a.service, starts_at=a.starts_at, ends_at=a.ends_at,
        state=a.state, version=a.version, created_known=a.created_known, customer=_json(a.customer), customer_at=a.customer_at,
        place=_json(a.place), work_lines=[line.model_dump(mode="json") for line in a.work_lines], subject=_json(a.subject),
        extra_info=a.extra_info, link_timer_due=a.link_timer_due, link_sent_at=a.link_sent_at,
        link_sent_start=a.link_sent_start, answered_at=a.answered_at,
    )
    stmt = pg.insert(appointments).values(booking_id=a.booking_id, **values)
    await session.execute(stmt.on_conflict_do_update(index_elements=[appointments.c.booking_id], set_=values))


async def upcoming(session: AsyncSession, tenant_id: str, after: datetime) -> list[domain.Appointment]:
    """The tenant's bookings that have not begun, for re-planning their links."""
    rows = await session.execute(
        sa.select(appointments).where(appointments.c.tenant_id == tenant_id, appointments.c.starts_at > after)
        .order_by(appointments.c.starts_at).with_for_update()
    )
    return [_appointment(r) for r in rows]


async def appointments_of_customer(session: AsyncSession, tenant_id: str, customer_id: uuid.UUID) -> list[domain.Appointment]:
    rows = await session.execute(
        sa.select(appointments).where(appointments.c.tenant_id == tenant_id, appointments.c.customer_id == customer_id)
        .with_for_update()
    )
    return [_appointment(r) for r in rows]


def _marks_query(tenant_id: str) -> Any:
    """Per booking: its items, the unhandled ones among them."""
    return (
        sa.select(items.c.booking_id, sa.func.count().label("items"),
                  sa.func.count().filter(items.c.state == "unhandled").label("unhandled"))
        .where(items.c.tenant_id == tenant_id).group_by(items.c.booking_id).subquery()
    )


@dataclass(frozen=True)
class Listed:
    appointment: domain.Appointment
    marks: domain.Marks


async def day_list(session: AsyncSession, tenant_id: str, start: datetime, end: datetime) -> list[Listed]:
    """The day's appointments and every appointment with an unhandled item (pinned), with marks."""
    marks = _marks_query(tenant_id)
    rows = await session.execute(
        sa.select(appointments, sa.func.coalesce(marks.c["items"], 0).label("item_count"),
                  sa.func.coalesce(marks.c.unhandled, 0).label("unhandled_count"))
        .outerjoin(marks, marks.c.booking_id == appointments.c.booking_id)
        .where(appointments.c.tenant_id == tenant_id,
               sa.or_(sa.and_(appointments.c.starts_at >= start, appointments.c.starts_at < end),
                      sa.and_(marks.c.unhandled > 0, appointments.c.state.not_in(("cancelled", "deleted")))))
        .order_by(appointments.c.starts_at)
        .limit(2000)
    )
    return [Listed(_appointment(r), domain.Marks(r.item_count, r.unhandled_count, r.answered_at is not None)) for r in rows]


# --- contact changes (C3) -----------------------------------------------------------------------


@dataclass(frozen=True)
class ContactChange:
    request_id: uuid.UUID
    phone: str | None
    email: str | None
    preferred_channel: str | None
    requested_at: datetime
    status: str
    reason: str | None


async def add_contact_change(session: AsyncSession, tenant_id: str, booking_id: uuid.UUID, customer_id: uuid.UUID,
                             change: ContactChange) -> None:
    await session.execute(sa.insert(contact_changes).values(
        request_id=change.request_id, tenant_id=tenant_id, booking_id=booking_id, customer_id=customer_id, phone=change.phone,
        email=change.email, preferred_channel=change.preferred_channel, requested_at=change.requested_at,
        status=change.status, reason=change.reason))


async def contact_changes_of(session: AsyncSession, booking_id: uuid.UUID) -> list[ContactChange]:
    rows = await session.execute(
        sa.select(contact_changes).where(contact_changes.c.booking_id == booking_id).order_by(contact_changes.c.requested_at))
    return [ContactChange(r.request_id, r.phone, r.email, r.preferred_channel, r.requested_at, r.status, r.reason) for r in rows]


async def settle_contact_change(session: AsyncSession, tenant_id: str, request_id: uuid.UUID, status: str, reason: str | None) -> Any:
    """Record booking's answer to a contact change; the change's row, or None if it is not ours."""
    return (await session.execute(
        sa.update(contact_changes).where(contact_changes.c.request_id == request_id, contact_changes.c.tenant_id == tenant_id)
        .values(status=status, reason=reason).returning(contact_changes)
    )).first()


# --- comments and files (C2, C6) ----------------------------------------------------------------


@dataclass(frozen=True)
class File:
    file_id: uuid.UUID
    tenant_id: str
    booking_id: uuid.UUID
    comment_id: uuid.UUID
    name: str
    content_type: str
    size: int
    storage_key: str


@dataclass(frozen=True)
class Comment:
    comment_id: uuid.UUID
    booking_id: uuid.UUID
    subject: str
    description: str
    created_at: datetime
    shared: bool
    shared_at: datetime | None
    shared_by: str | None
    files: tuple[File, ...]


async def add_comment(session: AsyncSession, tenant_id: str, booking_id: uuid.UUID, comment_id: uuid.UUID, subject: str,
                      description: str, at: datetime, stored: list[File]) -> None:
    await session.execute(sa.insert(comments).values(
        comment_id=comment_id, tenant_id=tenant_id, booking_id=booking_id, subject=subject, description=description, created_at=at))
    if stored:
        await session.execute(sa.insert(files), [
            dict(file_id=f.file_id, tenant_id=tenant_id, booking_id=booking_id, comment_id=comment_id, name=f.name,
                 content_type=f.content_type, size=f.size, storage_key=f.storage_key, created_at=at) for f in stored])


def _file(r: Any) -> File:
    return File(r.file_id, r.tenant_id, r.booking_id, r.comment_id, r.name, r.content_type, r.size, r.storage_key)


async def comments_of(session: AsyncSession, booking_id: uuid.UUID) -> list[Comment]:
    found = (await session.execute(
        sa.select(comments).where(comments.c.booking_id == booking_id).order_by(comments.c.created_at))).all()
    attached = (await session.execute(
        sa.select(files).where(files.c.booking_id == booking_id).order_by(files.c.created_at, files.c.name))).all()
    by_comment: dict[uuid.UUID, list[File]] = {}
    for f in attached:
        by_comment.setdefault(f.comment_id, []).append(_file(f))
    return [Comment(c.comment_id, c.booking_id, c.subject, c.description, c.created_at, c.shared, c.shared_at, c.shared_by,
                    tuple(by_comment.get(c.comment_id, ()))) for c in found]


async def comment(session: AsyncSession, tenant_id: str, booking_id: uuid.UUID, comment_id: uuid.UUID) -> Comment | None:
    if not await _is_tenants(session, tenant_id, booking_id):
        return None
    return next((c for c in await comments_of(session, booking_id) if c.comment_id == comment_id), None)


async def _is_tenants(session: AsyncSession, tenant_id: str, booking_id: uuid.UUID) -> bool:
    return (await session.execute(sa.select(sa.literal(1)).where(
        appointments.c.booking_id == booking_id, appointments.c.tenant_id == tenant_id))).first() is not None


async def share_comment(session: AsyncSession, comment_id: uuid.UUID, visible: bool, at: datetime, by: str) -> None:
    await session.execute(sa.update(comments).where(comments.c.comment_id == comment_id)
                          .values(shared=visible, shared_at=at, shared_by=by))


@dataclass(frozen=True)
class FileAccess:
    file: File
    shared: bool


async def file_of_tenant(session: AsyncSession, tenant_id: str, file_id: uuid.UUID) -> FileAccess | None:
    row = (await session.execute(
        sa.select(files, comments.c.shared).join(comments, comments.c.comment_id == files.c.comment_id)
        .where(files.c.file_id == file_id, files.c.tenant_id == tenant_id))).first()
    return FileAccess(_file(row), row.shared) if row else None


async def unknown_keys(session: AsyncSession, keys: list[str]) -> list[str]:
    """Which of these storage keys no file row refers to."""
    if not keys:
        return []
    known = set((await session.execute(sa.select(files.c.storage_key).where(files.c.storage_key.in_(keys)))).scalars())
    return [k for k in keys if k not in known]


# --- items (C4, C5) -----------------------------------------------------------------------------


def _item(r: Any) -> domain.Item:
    return domain.Item(r.item_id, r.booking_id, r.kind, r.state, r.service, r.comment_id, r.outcome, r.handled_at, r.handled_by,
                       r.work_line_id, WorkLine.model_validate(r.work_line) if r.work_line else None, r.work_line_status,
                       r.work_line_reason)


async def items_of(session: AsyncSession, booking_id: uuid.UUID, *, lock: bool = False) -> list[domain.Item]:
    query = sa.select(items).where(items.c.booking_id == booking_id).order_by(items.c.created_at, items.c.item_id)
    if lock:
        query = query.with_for_update()
    return [_item(r) for r in await session.execute(query)]


async def add_item(session: AsyncSession, tenant_id: str, item: domain.Item, at: datetime) -> None:
    await session.execute(sa.insert(items).values(
        item_id=item.item_id, tenant_id=tenant_id, booking_id=item.booking_id, kind=item.kind, service=item.service,
        comment_id=item.comment_id, state=item.state, created_at=at))


async def change_item_kind(session: AsyncSession, item_id: uuid.UUID, kind: str) -> None:
    await session.execute(sa.update(items).where(items.c.item_id == item_id, items.c.state == "unhandled").values(kind=kind))


async def remove_item(session: AsyncSession, item_id: uuid.UUID) -> None:
    await session.execute(sa.delete(items).where(items.c.item_id == item_id, items.c.state == "unhandled"))


async def save_item(session: AsyncSession, item: domain.Item) -> None:
    await session.execute(sa.update(items).where(items.c.item_id == item.item_id).values(
        state=item.state, outcome=item.outcome, handled_at=item.handled_at, handled_by=item.handled_by,
        work_line_id=item.work_line_id, work_line=_json(item.work_line), work_line_status=item.work_line_status,
        work_line_reason=item.work_line_reason))


async def booking_of_work_line(session: AsyncSession, tenant_id: str, request_id: uuid.UUID) -> uuid.UUID | None:
    """The booking whose item asked for the work line `request_id`, or None if no item did."""
    return (await session.execute(sa.select(items.c.booking_id).where(
        items.c.work_line_id == request_id, items.c.tenant_id == tenant_id))).scalar()


async def settle_work_line(session: AsyncSession, tenant_id: str, request_id: uuid.UUID, status: str,
                           reason: str | None) -> domain.Item | None:
    """Record booking's answer to an added work line (the request id is the line's id)."""
    row = (await session.execute(
        sa.update(items).where(items.c.work_line_id == request_id, items.c.tenant_id == tenant_id)
        .values(work_line_status=status, work_line_reason=reason).returning(items))).first()
    return _item(row) if row else None


# --- bad links (counted here, so that every replica and restart sees the same count) ---------


async def bad_links_since(session: AsyncSession, client: str, since: datetime) -> list[datetime]:
    """The client's refused links after `since`, oldest first."""
    rows = await session.execute(sa.select(bad_link_attempts.c.at).where(bad_link_attempts.c.client == client,
                                                                         bad_link_attempts.c.at > since).order_by(bad_link_attempts.c.at))
    return list(rows.scalars())


async def add_bad_link(session: AsyncSession, client: str, at: datetime, forget_before: datetime) -> None:
    """Count one refused link; attempts older than the window are forgotten on the way."""
    await session.execute(sa.delete(bad_link_attempts).where(bad_link_attempts.c.at <= forget_before))
    await session.execute(sa.insert(bad_link_attempts).values(client=client[:200], at=at))
