"""Recall settings, templates, customers' recalls, step runs, actions, markers and till sales:
every query on them."""
from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg
from sqlalchemy.ext.asyncio import AsyncSession

from bookflow_contracts import ENDED_STATES, CustomerSnapshot
from bookflow_recall.domain import recall as domain
from bookflow_recall.domain.calendar import TenantCalendar
from bookflow_recall.storage.projection import snapshot_of
from bookflow_recall.storage.tables import (
    booking_history, customer_markers, customer_recalls, customers, recall_actions, recall_settings, recall_step_runs, recall_templates,
    tenants, till_sales,
)
from bookflow_recall.views import ActionView, MissingRecall, RecallCard, RecallListEntry, RecallView, StepRunView


async def calendar(session: AsyncSession, tenant_id: str) -> TenantCalendar | None:
    """The tenant's calendar (its zone from `tenant.updated`, its day length from the recall
    settings), or None while the tenant has not reached this service."""
    row = (await session.execute(
        sa.select(tenants.c.time_zone, recall_settings.c.day_length, recall_settings.c.day_origin)
        .select_from(tenants.outerjoin(recall_settings, recall_settings.c.tenant_id == tenants.c.tenant_id))
        .where(tenants.c.tenant_id == tenant_id))).first()
    if row is None:
        return None
    return TenantCalendar(ZoneInfo(row.time_zone), row.day_length or timedelta(days=1), row.day_origin)


@dataclass(frozen=True)
class Settings:
    """A tenant's recall settings (E1, E2) and its calendar's day length."""

    tenant_id: str
    enabled: bool = False
    flag_missing: bool = False
    run_offset_days: int = 0
    day_length: timedelta = timedelta(days=1)
    day_origin: datetime | None = None
    time_zone: str | None = None
    """The tenant's zone as this service knows it (from `tenant.updated`); not a setting."""


async def settings_of(session: AsyncSession, tenant_id: str) -> Settings:
    zone = sa.select(tenants.c.time_zone).where(tenants.c.tenant_id == tenant_id).scalar_subquery()
    row = (await session.execute(sa.select(
        recall_settings.c.tenant_id, recall_settings.c.enabled, recall_settings.c.flag_missing, recall_settings.c.run_offset_days,
        recall_settings.c.day_length, recall_settings.c.day_origin, zone).where(recall_settings.c.tenant_id == tenant_id))).first()
    if row is None:
        return Settings(tenant_id, time_zone=(await session.execute(sa.select(zone))).scalar())
    return Settings(*row)


async def save_settings(session: AsyncSession, settings: Settings, at: datetime) -> None:
    values = {"enabled": settings.enabled, "flag_missing": settings.flag_missing, "run_offset_days": settings.run_offset_days,
              "day_length": settings.day_length, "day_origin": settings.day_origin, "updated_at": at}
    stmt = pg.insert(recall_settings).values(tenant_id=settings.tenant_id, **values)
    await session.execute(stmt.on_conflict_do_update(index_elements=[recall_settings.c.tenant_id], set_=values))


@dataclass(frozen=True)
class TenantRecall:
    """An enabled tenant as the evaluation needs it."""

    tenant_id: str
    run_offset_days: int
    calendar: TenantCalendar


async def enabled_tenants(session: AsyncSession) -> list[TenantRecall]:
    """Tenants with recall enabled whose zone this service knows."""
    rows = await session.execute(
        sa.select(recall_settings.c.tenant_id, recall_settings.c.run_offset_days, tenants.c.time_zone, recall_settings.c.day_length,
                  recall_settings.c.day_origin)
        .join(tenants, tenants.c.tenant_id == recall_settings.c.tenant_id).where(recall_settings.c.enabled))
    return [TenantRecall(r.tenant_id, r.run_offset_days, TenantCalendar(ZoneInfo(r.time_zone), r.day_length, r.day_origin))
            for r in rows]


async def tenant_recall(session: AsyncSession, tenant_id: str) -> TenantRecall | None:
    found = [t for t in await enabled_tenants(session) if t.tenant_id == tenant_id]
    return found[0] if found else None


# --- templates -------------------------------------------------------------------------------


def _steps_json(steps: Sequence[domain.Step]) -> list[dict[str, Any]]:
    return [{"after_days": s.after_days, "rules": [asdict(r) for r in s.rules], "actions": [asdict(a) for a in s.actions]}
            for s in steps]


def _steps(data: list[dict[str, Any]]) -> tuple[domain.Step, ...]:
    return tuple(domain.Step(d["after_days"], tuple(domain.Rule(**r) for r in d["rules"]),
                             tuple(domain.Action(**a) for a in d["actions"])) for d in data)


def _template(row: Any) -> domain.Template:
    return domain.Template(row.id, row.tenant_id, row.name, row.service, row.tolerance_days, row.frequency, row.frequency_unit,
                           row.times, tuple(row.article_numbers), _steps(row.steps))


@dataclass(frozen=True)
class TemplateRow:
    template: domain.Template
    created_at: datetime
    updated_at: datetime


async def save_template(session: AsyncSession, template: domain.Template, at: datetime) -> None:
    values = {"name": template.name, "service": template.service, "tolerance_days": template.tolerance_days,
              "frequency": template.frequency, "frequency_unit": template.frequency_unit, "times": template.times,
              "article_numbers": list(template.article_numbers), "steps": _steps_json(template.steps), "updated_at": at}
    stmt = pg.insert(recall_templates).values(id=template.id, tenant_id=template.tenant_id, created_at=at, **values)
    await session.execute(stmt.on_conflict_do_update(index_elements=[recall_templates.c.id], set_=values))


async def template(session: AsyncSession, tenant_id: str, template_id: uuid.UUID, *, lock: bool = False) -> TemplateRow | None:
    query = sa.select(recall_templates).where(recall_templates.c.id == template_id, recall_templates.c.tenant_id == tenant_id,
                                              recall_templates.c.deleted_at.is_(None))
    row = (await session.execute(query.with_for_update() if lock else query)).first()
    return TemplateRow(_template(row), row.created_at, row.updated_at) if row else None


async def templates(session: AsyncSession, tenant_id: str) -> list[TemplateRow]:
    rows = await session.execute(sa.select(recall_templates).where(
        recall_templates.c.tenant_id == tenant_id, recall_templates.c.deleted_at.is_(None)).order_by(recall_templates.c.name))
    return [TemplateRow(_template(r), r.created_at, r.updated_at) for r in rows]


async def delete_template(session: AsyncSession, tenant_id: str, template_id: uuid.UUID, at: datetime) -> int:
    """Delete the template; its active recalls end. Returns how many ended."""
    await session.execute(sa.update(recall_templates).where(recall_templates.c.id == template_id,
                                                            recall_templates.c.tenant_id == tenant_id).values(deleted_at=at))
    result = await session.execute(sa.update(customer_recalls).where(
        customer_recalls.c.template_id == template_id, customer_recalls.c.status == "active").values(
        status="ended", ended_reason="the template was deleted", next_step_day=None, updated_at=at))
    return result.rowcount


async def reschedule_template(session: AsyncSession, template: domain.Template, at: datetime) -> None:
    """The template's steps changed: each active recall's next step is the first after the one it
    ran last (or, if none is left in this course, the one it ran last: the evaluation then ends
    the course)."""
    await session.execute(_RESCHEDULE, {"days": [s.after_days for s in template.steps], "template": template.id, "at": at})


_RESCHEDULE = sa.text(
    "UPDATE customer_recalls r SET updated_at = :at, next_step_day = r.recall_date + coalesce("
    " (SELECT min(d) FROM unnest(CAST(:days AS integer[])) AS d WHERE r.last_step_days IS NULL OR d > r.last_step_days),"
    " r.last_step_days) WHERE r.template_id = :template AND r.status = 'active'")


# --- customers' recalls ----------------------------------------------------------------------


@dataclass(frozen=True)
class CustomerRecall:
    id: uuid.UUID
    tenant_id: str
    customer_id: uuid.UUID
    template_id: uuid.UUID
    progress: domain.Progress
    date_set_at: datetime


_RECALL = (customer_recalls.c.id, customer_recalls.c.tenant_id, customer_recalls.c.customer_id, customer_recalls.c.template_id,
           customer_recalls.c.recall_date, customer_recalls.c.course, customer_recalls.c.courses_done,
           customer_recalls.c.last_step_days, customer_recalls.c.next_step_day, customer_recalls.c.status,
           customer_recalls.c.date_set_at)


def _recall(row: Any) -> CustomerRecall:
    return CustomerRecall(row[0], row[1], row[2], row[3], domain.Progress(row[4], row[5], row[6], row[7], row[8], row[9]), row[10])


async def active_recall(session: AsyncSession, tenant_id: str, customer_id: uuid.UUID, template_id: uuid.UUID) -> CustomerRecall | None:
    row = (await session.execute(sa.select(*_RECALL).where(
        customer_recalls.c.tenant_id == tenant_id, customer_recalls.c.customer_id == customer_id,
        customer_recalls.c.template_id == template_id, customer_recalls.c.status == "active").with_for_update())).first()
    return _recall(row) if row else None


async def recall(session: AsyncSession, tenant_id: str, recall_id: uuid.UUID) -> CustomerRecall | None:
    row = (await session.execute(sa.select(*_RECALL).where(
        customer_recalls.c.id == recall_id, customer_recalls.c.tenant_id == tenant_id).with_for_update())).first()
    return _recall(row) if row else None


async def insert_recall(session: AsyncSession, recall: CustomerRecall, by: str, at: datetime) -> None:
    p = recall.progress
    await session.execute(sa.insert(customer_recalls).values(
        id=recall.id, tenant_id=recall.tenant_id, customer_id=recall.customer_id, template_id=recall.template_id,
        recall_date=p.recall_date, course=p.course, courses_done=p.courses_done, last_step_days=p.last_step_days,
        next_step_day=p.next_step_day, status=p.status, date_set_at=recall.date_set_at, created_at=at, created_by=by, updated_at=at))


async def move_recall(session: AsyncSession, recall_id: uuid.UUID, progress: domain.Progress, at: datetime, *,
                      ended_reason: str | None = None, date_set: bool = True) -> None:
    values: dict[str, Any] = {
        "recall_date": progress.recall_date, "course": progress.course, "courses_done": progress.courses_done,
        "last_step_days": progress.last_step_days, "next_step_day": progress.next_step_day, "status": progress.status,
        "ended_reason": ended_reason, "updated_at": at}
    if date_set:
        values["date_set_at"] = at
    await session.execute(sa.update(customer_recalls).where(customer_recalls.c.id == recall_id).values(**values))


async def active_recalls_with_articles(session: AsyncSession, tenant_id: str, customer_id: uuid.UUID,
                                       articles: list[str]) -> list[tuple[CustomerRecall, domain.Template]]:
    """The customer's active recalls whose template is linked to any of `articles` (E5), locked."""
    rows = await session.execute(
        sa.select(*_RECALL, recall_templates.c.id.label("t_id"))
        .join(recall_templates, recall_templates.c.id == customer_recalls.c.template_id)
        .where(customer_recalls.c.tenant_id == tenant_id, customer_recalls.c.customer_id == customer_id,
               customer_recalls.c.status == "active", recall_templates.c.deleted_at.is_(None),
               recall_templates.c.article_numbers.overlap(sa.literal(articles, pg.ARRAY(sa.Text))))
        .with_for_update(of=customer_recalls))
    found = []
    for row in rows:
        t = await template(session, tenant_id, row.t_id)
        if t is not None:
            found.append((_recall(row), t.template))
    return found


# --- the evaluation --------------------------------------------------------------------------
#
# The evaluation's statements go to the driver (asyncpg) on the session's own connection, inside
# its transaction: one statement per batch, arrays in (one per column, `unnest`), plain records
# out. Through SQLAlchemy's result layer the same batch cost twice the client CPU (measured with
# bench/recall), which is what bounds a daily run over a hundred thousand recalls.


async def _driver(session: AsyncSession) -> Any:
    """The asyncpg connection under the session, in the session's transaction. SQLAlchemy sends
    BEGIN only with its first statement, so a transaction the driver would be the first to use
    is begun through SQLAlchemy first (else each statement would commit on its own and the
    claims' row locks would end with them)."""
    connection = await session.connection()
    driver = (await connection.get_raw_connection()).driver_connection
    if not driver.is_in_transaction():
        await session.execute(_BEGIN)
    return driver


_BEGIN = sa.text("SELECT 1")


@dataclass(frozen=True)
class _Contact:
    name: str | None
    phone: str | None
    email: str | None
    language: str | None
    preferred_channel: str | None
    address: dict | None
    customer_number: str | None


_CLAIM = (
    "SELECT r.id, r.tenant_id, r.customer_id, r.template_id, r.recall_date, r.course, r.courses_done, r.last_step_days,"
    " r.next_step_day, r.status, r.date_set_at FROM customer_recalls r"
    " WHERE r.tenant_id = $1 AND r.status = 'active' AND r.next_step_day <= $2 AND r.updated_at < $3"
    " ORDER BY r.next_step_day LIMIT $4 FOR UPDATE SKIP LOCKED"
)


async def claim_due(session: AsyncSession, tenant_id: str, horizon: date, limit: int, *, before: datetime) -> list[CustomerRecall]:
    """Active recalls of the tenant whose next step's day is on or before `horizon` and that were
    not changed since `before` (the round's instant: one step per recall per round), locked;
    rows another replica holds are skipped, and a row another replica just advanced is
    re-checked when locked, so each step is claimed once."""
    rows = await (await _driver(session)).fetch(_CLAIM, tenant_id, horizon, before, limit)
    return [_recall(row) for row in rows]


_CONTACTS = (
    "SELECT customer_id, name, phone, email, language, preferred_channel, address::text, customer_number FROM customers"
    " WHERE tenant_id = $1 AND customer_id = ANY($2::uuid[])"
)


async def contacts(session: AsyncSession, tenant_id: str, customer_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, CustomerSnapshot]:
    """The contact details of the customers a batch writes to; a customer this service has not
    heard of gets a snapshot with the id alone (the notification service says why it cannot send)."""
    wanted = list(set(customer_ids))
    if not wanted:
        return {}
    rows = await (await _driver(session)).fetch(_CONTACTS, tenant_id, wanted)
    found = {row[0]: snapshot_of(_Contact(row[1], row[2], row[3], row[4], row[5], json.loads(row[6]) if row[6] else None, row[7]), row[0])
             for row in rows}
    return {i: found.get(i) or CustomerSnapshot.model_construct(customer_id=i) for i in wanted}


_FACTS = (
    "SELECT w.id,"
    " coalesce(bool_or(b.state = 'completed' AND b.starts_at >= w.tol AND b.starts_at < w.tol_end), false),"
    " coalesce(bool_or(b.state = 'completed' AND b.starts_at >= w.win), false),"
    " coalesce(bool_or(b.starts_at > $3 AND NOT b.state = ANY($4::text[])), false),"
    " coalesce(bool_or(b.state = 'no-show' AND b.starts_at >= w.win), false),"
    " coalesce((array_agg(b.state ORDER BY b.starts_at DESC) FILTER (WHERE b.starts_at >= w.win))[1] IN ('deleted', 'cancelled'), false),"
    " count(b.booking_id) FILTER (WHERE b.starts_at >= w.win) > 0"
    " FROM unnest($2::uuid[], $5::uuid[], $6::text[], $7::timestamptz[], $8::timestamptz[], $9::timestamptz[])"
    "  AS w(id, customer_id, service, tol, tol_end, win)"
    " LEFT JOIN booking_history b ON b.tenant_id = $1 AND b.customer_id = w.customer_id AND b.service = w.service"
    " GROUP BY w.id"
)


async def facts(session: AsyncSession, tenant_id: str, recall_ids: list[uuid.UUID], customer_ids: list[uuid.UUID],
                services: list[str], tolerance_from: list[datetime], tolerance_until: list[datetime], window_from: list[datetime],
                now: datetime) -> dict[uuid.UUID, domain.Facts]:
    """The criteria's facts for each recall (parallel lists: the recall, its customer, the
    template's service, the tolerance's bounds and the criteria window's start), from the
    customer's bookings of the service: one statement for the whole batch."""
    if not recall_ids:
        return {}
    rows = await (await _driver(session)).fetch(_FACTS, tenant_id, recall_ids, now, list(ENDED_STATES), customer_ids, services,
                                                tolerance_from, tolerance_until, window_from)
    return {row[0]: domain.Facts(row[1], row[2], row[3], row[4], row[5], row[6]) for row in rows}


@dataclass(frozen=True)
class StepRun:
    recall_id: uuid.UUID
    course: int
    after_days: int
    recall_date: date
    outcome: str
    criterion: str | None


@dataclass(frozen=True)
class ActionRow:
    id: uuid.UUID
    recall_id: uuid.UUID
    customer_id: uuid.UUID
    course: int
    after_days: int
    recall_date: date
    kind: str
    channel: str | None
    template_key: str | None
    approval: str
    fallback: str | None
    marker: str | None
    state: str
    reason: str | None = None
    fallback_of: uuid.UUID | None = None


_STEP_RUNS = (
    "INSERT INTO recall_step_runs (recall_id, course, after_days, recall_date, outcome, criterion, tenant_id, ran_at)"
    " SELECT *, $7, $8 FROM unnest($1::uuid[], $2::integer[], $3::integer[], $4::date[], $5::text[], $6::text[])"
    " ON CONFLICT DO NOTHING RETURNING recall_id, course, after_days"
)
_ACTIONS = (
    "INSERT INTO recall_actions (id, recall_id, customer_id, course, after_days, recall_date, kind, channel, template_key, approval,"
    " fallback, marker, state, reason, fallback_of, tenant_id, created_at, updated_at) SELECT *, $16, $17, $17 FROM"
    " unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::integer[], $5::integer[], $6::date[], $7::text[], $8::text[], $9::text[],"
    " $10::text[], $11::text[], $12::text[], $13::text[], $14::text[], $15::uuid[])"
    " ON CONFLICT (id) DO NOTHING"
)
_MOVE = (
    "UPDATE customer_recalls r SET recall_date = u.recall_date, course = u.course, courses_done = u.courses_done,"
    " last_step_days = u.last_step_days, next_step_day = u.next_step_day, status = u.status,"
    " date_set_at = CASE WHEN u.recall_date <> r.recall_date THEN $8 ELSE r.date_set_at END, updated_at = $8"
    " FROM unnest($1::uuid[], $2::date[], $3::integer[], $4::integer[], $5::integer[], $6::date[], $7::text[])"
    " AS u(id, recall_date, course, courses_done, last_step_days, next_step_day, status) WHERE r.id = u.id"
)


async def record_step_runs(session: AsyncSession, tenant_id: str, runs: Sequence[StepRun], at: datetime) -> set[tuple[uuid.UUID, int, int]]:
    """Record the steps decided; returns those not recorded before (the others were decided
    already: their actions are not taken again)."""
    if not runs:
        return set()
    rows = await (await _driver(session)).fetch(
        _STEP_RUNS, [r.recall_id for r in runs], [r.course for r in runs], [r.after_days for r in runs], [r.recall_date for r in runs],
        [r.outcome for r in runs], [r.criterion for r in runs], tenant_id, at)
    return {(row[0], row[1], row[2]) for row in rows}


async def add_actions(session: AsyncSession, tenant_id: str, actions: Sequence[ActionRow], at: datetime) -> None:
    if not actions:
        return
    columns = ("id", "recall_id", "customer_id", "course", "after_days", "recall_date", "kind", "channel", "template_key", "approval",
               "fallback", "marker", "state", "reason", "fallback_of")
    await (await _driver(session)).execute(_ACTIONS, *([getattr(a, name) for a in actions] for name in columns), tenant_id, at)


async def move_recalls(session: AsyncSession, moves: Sequence[tuple[uuid.UUID, domain.Progress]], at: datetime) -> None:
    if not moves:
        return
    await (await _driver(session)).execute(
        _MOVE, [i for i, _ in moves], [p.recall_date for _, p in moves], [p.course for _, p in moves],
        [p.courses_done for _, p in moves], [p.last_step_days for _, p in moves], [p.next_step_day for _, p in moves],
        [p.status for _, p in moves], at)


_MARKERS = (
    "INSERT INTO customer_markers (customer_id, marker, tenant_id, set_at, set_by) SELECT *, $3, $4, $5 FROM"
    " unnest($1::uuid[], $2::text[])"
    " ON CONFLICT (tenant_id, customer_id) DO UPDATE SET marker = excluded.marker, set_at = excluded.set_at, set_by = excluded.set_by"
)


async def set_markers(session: AsyncSession, tenant_id: str, markers: Iterable[tuple[uuid.UUID, str]], by: str, at: datetime) -> None:
    """Give customers a marker (E4: "en markering … som vil følge kunden"); the latest wins."""
    latest = dict(markers)
    if latest:
        await (await _driver(session)).execute(_MARKERS, list(latest), list(latest.values()), tenant_id, at, by)


async def leave_list(session: AsyncSession, recall_ids: Sequence[uuid.UUID], reason: str, at: datetime) -> None:
    """The customers of these recalls leave the recall list (a course ended: they booked or came)."""
    if recall_ids:
        await session.execute(sa.update(recall_actions).where(
            recall_actions.c.recall_id == sa.func.any(sa.literal(list(recall_ids), pg.ARRAY(pg.UUID))),
            recall_actions.c.state == "listed").values(state="resolved", reason=reason, handled_by="system", updated_at=at))


async def clear_marker(session: AsyncSession, tenant_id: str, customer_id: uuid.UUID) -> None:
    await session.execute(sa.delete(customer_markers).where(customer_markers.c.tenant_id == tenant_id,
                                                            customer_markers.c.customer_id == customer_id))


# --- actions ---------------------------------------------------------------------------------


async def action(session: AsyncSession, tenant_id: str | None, action_id: uuid.UUID) -> ActionRow | None:
    query = sa.select(recall_actions).where(recall_actions.c.id == action_id)
    if tenant_id is not None:
        query = query.where(recall_actions.c.tenant_id == tenant_id)
    row = (await session.execute(query.with_for_update())).first()
    if row is None:
        return None
    return ActionRow(row.id, row.recall_id, row.customer_id, row.course, row.after_days, row.recall_date, row.kind, row.channel,
                     row.template_key, row.approval, row.fallback, row.marker, row.state, row.reason, row.fallback_of)


async def update_action(session: AsyncSession, action_id: uuid.UUID, at: datetime, **values: Any) -> None:
    await session.execute(sa.update(recall_actions).where(recall_actions.c.id == action_id).values(**values, updated_at=at))


async def record_action_delivery(session: AsyncSession, tenant_id: str, action_id: uuid.UUID, status: str, at: datetime) -> None:
    order = {"queued": 0, "sent": 1}
    row = (await session.execute(sa.select(recall_actions.c.delivery_status, recall_actions.c.delivery_at).where(
        recall_actions.c.id == action_id, recall_actions.c.tenant_id == tenant_id).with_for_update())).first()
    if row is None:
        return
    kept = order.get(row.delivery_status or "queued", 2) if row.delivery_status else -1
    if order.get(status, 2) > kept or (order.get(status, 2) == kept and (row.delivery_at is None or at >= row.delivery_at)):
        await session.execute(sa.update(recall_actions).where(recall_actions.c.id == action_id).values(
            delivery_status=status, delivery_at=at, updated_at=sa.func.now()))


def _action_view(row: Any) -> ActionView:
    return ActionView(**{name: row._mapping[name] for name in ActionView.model_fields})


async def actions_of(session: AsyncSession, tenant_id: str, recall_ids: Sequence[uuid.UUID]) -> list[ActionView]:
    rows = await session.execute(sa.select(recall_actions).where(
        recall_actions.c.tenant_id == tenant_id, recall_actions.c.recall_id.in_(list(recall_ids)))
        .order_by(recall_actions.c.created_at, recall_actions.c.after_days))
    return [_action_view(r) for r in rows]


async def recall_list(session: AsyncSession, tenant_id: str) -> list[RecallListEntry]:
    """E4: customers on the recall list (and messages awaiting approval), oldest first, with their markers."""
    a, c, m, t, r = recall_actions, customers, customer_markers, recall_templates, customer_recalls
    rows = await session.execute(
        sa.select(a, c.c.name.label("customer_name"), c.c.phone.label("customer_phone"), c.c.email.label("customer_email"),
                  m.c.marker.label("customer_marker"), t.c.name.label("template_name"), t.c.service.label("template_service"))
        .select_from(a.join(r, r.c.id == a.c.recall_id).join(t, t.c.id == r.c.template_id)
                     .outerjoin(c, sa.and_(c.c.tenant_id == a.c.tenant_id, c.c.customer_id == a.c.customer_id))
                     .outerjoin(m, sa.and_(m.c.tenant_id == a.c.tenant_id, m.c.customer_id == a.c.customer_id)))
        .where(a.c.tenant_id == tenant_id, a.c.state.in_(("listed", "awaiting-approval")))
        .order_by(a.c.created_at))
    return [RecallListEntry(action=_action_view(row), customer_name=row.customer_name, phone=row.customer_phone,
                            email=row.customer_email, marker=row.customer_marker, template_name=row.template_name,
                            service=row.template_service) for row in rows]


# --- the customer card -----------------------------------------------------------------------


_HAD_SERVICE = ("deleted", "cancelled")


def _missing_query(tenant_id: str) -> sa.Select:
    """Customers who had a booking of a service a template recalls, with no active recall on a
    template of that service (E1)."""
    b, r, t, c = booking_history, customer_recalls, recall_templates, customers
    recalled = sa.select(t.c.service).where(t.c.tenant_id == tenant_id, t.c.deleted_at.is_(None)).distinct().subquery()
    active = (sa.select(r.c.customer_id, t.c.service).join(t, t.c.id == r.c.template_id)
              .where(r.c.tenant_id == tenant_id, r.c.status == "active").subquery())
    return (
        sa.select(b.c.customer_id, c.c.name, c.c.phone, sa.func.array_agg(sa.distinct(b.c.service)).label("services"),
                  sa.func.max(b.c.starts_at).label("last_booking_at"))
        .select_from(b.join(recalled, recalled.c.service == b.c.service)
                     .outerjoin(active, sa.and_(active.c.customer_id == b.c.customer_id, active.c.service == b.c.service))
                     .outerjoin(c, sa.and_(c.c.tenant_id == b.c.tenant_id, c.c.customer_id == b.c.customer_id)))
        .where(b.c.tenant_id == tenant_id, b.c.state.not_in(_HAD_SERVICE), active.c.customer_id.is_(None))
        .group_by(b.c.customer_id, c.c.name, c.c.phone))


async def missing_recalls(session: AsyncSession, tenant_id: str, limit: int = 1000) -> list[MissingRecall]:
    rows = await session.execute(_missing_query(tenant_id).order_by(sa.text("last_booking_at DESC")).limit(limit))
    return [MissingRecall(customer_id=r.customer_id, name=r.name, phone=r.phone, services=sorted(r.services),
                          last_booking_at=r.last_booking_at) for r in rows]


async def card(session: AsyncSession, tenant_id: str, customer_id: uuid.UUID) -> RecallCard:
    """E1, E6: the customer's recalls with their steps and actions, the marker and the flag."""
    r, t = customer_recalls, recall_templates
    rows = (await session.execute(
        sa.select(r, t.c.name.label("template_name"), t.c.service.label("template_service"))
        .join(t, t.c.id == r.c.template_id).where(r.c.tenant_id == tenant_id, r.c.customer_id == customer_id)
        .order_by(r.c.created_at.desc()))).all()
    ids = [row.id for row in rows]
    runs = (await session.execute(sa.select(recall_step_runs).where(recall_step_runs.c.recall_id.in_(ids))
                                  .order_by(recall_step_runs.c.ran_at, recall_step_runs.c.course, recall_step_runs.c.after_days))).all()
    actions = await actions_of(session, tenant_id, ids) if ids else []
    marker = (await session.execute(sa.select(customer_markers.c.marker).where(
        customer_markers.c.tenant_id == tenant_id, customer_markers.c.customer_id == customer_id))).scalar()
    flag = (await settings_of(session, tenant_id)).flag_missing
    missing = flag and (await session.execute(
        sa.select(sa.func.count()).select_from(_missing_query(tenant_id).where(booking_history.c.customer_id == customer_id).subquery())
    )).scalar_one() > 0
    views = [
        RecallView(
            id=row.id, customer_id=row.customer_id, template_id=row.template_id, template_name=row.template_name,
            service=row.template_service, recall_date=row.recall_date, course=row.course, courses_done=row.courses_done,
            next_step_day=row.next_step_day, status=row.status, ended_reason=row.ended_reason, created_at=row.created_at,
            created_by=row.created_by,
            steps=[StepRunView(course=s.course, after_days=s.after_days, recall_date=s.recall_date, ran_at=s.ran_at, outcome=s.outcome,
                               criterion=s.criterion) for s in runs if s.recall_id == row.id],
            actions=[a for a in actions if a.recall_id == row.id],
        )
        for row in rows
    ]
    return RecallCard(customer_id=customer_id, marker=marker, missing_recall=missing, recalls=views)


# --- till sales ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sale:
    tenant_id: str
    sale_id: str
    customer_id: uuid.UUID | None
    customer_number: str | None
    article_numbers: tuple[str, ...]
    sold_at: datetime


async def add_sale(session: AsyncSession, sale: Sale, at: datetime) -> bool:
    """Keep a sale; False if the same sale (tenant and till's id) was kept before."""
    result = await session.execute(pg.insert(till_sales).values(
        tenant_id=sale.tenant_id, sale_id=sale.sale_id, customer_id=sale.customer_id, customer_number=sale.customer_number,
        article_numbers=list(sale.article_numbers), sold_at=sale.sold_at, received_at=at,
    ).on_conflict_do_nothing().returning(till_sales.c.sale_id))
    return result.first() is not None


async def sale_applied(session: AsyncSession, tenant_id: str, sale_id: str, customer_id: uuid.UUID, moved: int, at: datetime) -> None:
    await session.execute(sa.update(till_sales).where(till_sales.c.tenant_id == tenant_id, till_sales.c.sale_id == sale_id).values(
        customer_id=customer_id, applied_at=at, recalls_moved=moved))


async def lock_customer_number(session: AsyncSession, tenant_id: str, number: str) -> None:
    """Serialise a sale naming a customer number with that customer's arrival: they come on
    different topics, and each must see the other once committed, or the sale waits for ever."""
    await session.execute(sa.select(sa.func.pg_advisory_xact_lock(sa.func.hashtextextended(f"customer-number:{tenant_id}:{number}", 0))))


async def unresolved_sales(session: AsyncSession, tenant_id: str, customer_number: str) -> list[Sale]:
    rows = await session.execute(sa.select(till_sales).where(
        till_sales.c.tenant_id == tenant_id, till_sales.c.customer_id.is_(None), till_sales.c.customer_number == customer_number)
        .with_for_update())
    return [Sale(r.tenant_id, r.sale_id, None, r.customer_number, tuple(r.article_numbers), r.sold_at) for r in rows]
