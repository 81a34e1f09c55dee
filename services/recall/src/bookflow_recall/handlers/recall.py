"""Recall for staff (flow E, seed 004): the tenant's recall settings, templates with steps,
customers' recalls, the recall list with markers, approvals and till sales; and the booking
service's answers to auto-book."""
from __future__ import annotations

import logging
import uuid
from dataclasses import replace
from datetime import date, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from bookflow_contracts import BookingCommandApplied, BookingCommandRefused, Envelope, NotificationStatusChanged, TillSaleRecorded
from bookflow_recall.domain import recall as domain
from bookflow_recall.handlers import Deps
from bookflow_recall.handlers.evaluation import evaluate_tenant, recall_message
from bookflow_recall.storage import projection
from bookflow_recall.storage import recall as storage
from bookflow_recall.views import ActionView, EvaluationSummary, RecallCard, RecallListEntry
from bookflow_runtime import outbox
from bookflow_runtime.auth import Staff
from bookflow_runtime.database import after_commit
from bookflow_runtime.errors import Conflict, InvalidInput, NotFound

_log = logging.getLogger(__name__)
ONE_DAY = timedelta(days=1)


async def save_settings(session: AsyncSession, deps: Deps, staff: Staff, settings: storage.Settings) -> storage.Settings:
    """E1, E2: enable recall, show the missing-recall flag, the run offset; and (development
    mode only) how long the tenant's days last, so a demonstration runs on a seconds scale."""
    staff.require("administrator")
    if settings.day_length != ONE_DAY and not deps.settings.development:
        raise InvalidInput("a day shorter than a day is for development mode only (demonstrations and tests)")
    kept = await storage.settings_of(session, settings.tenant_id)
    now = deps.clock()
    origin = None if settings.day_length == ONE_DAY else (kept.day_origin if kept.day_length == settings.day_length else now)
    await storage.save_settings(session, replace(settings, day_origin=origin), now)
    after_commit(session, deps.evaluating.wake)
    return await storage.settings_of(session, settings.tenant_id)


# --- templates (E3, E4) ----------------------------------------------------------------------


async def save_template(session: AsyncSession, deps: Deps, staff: Staff, template: domain.Template, *, new: bool) -> storage.TemplateRow:
    """Create or change a template with its steps; a change moves each active recall's next step
    to the first step after the one it ran last (administrators)."""
    staff.require("administrator")
    now = deps.clock()
    if not new and await storage.template(session, template.tenant_id, template.id, lock=True) is None:
        raise NotFound(f"no recall template {template.id}")
    await storage.save_template(session, template, now)
    if not new:
        await storage.reschedule_template(session, template, now)
    after_commit(session, deps.evaluating.wake)
    saved = await storage.template(session, template.tenant_id, template.id)
    assert saved is not None
    return saved


async def delete_template(session: AsyncSession, deps: Deps, staff: Staff, tenant_id: str, template_id: uuid.UUID) -> int:
    """Delete a template; its customers' active recalls end. Returns how many ended (administrators)."""
    staff.require("administrator")
    if await storage.template(session, tenant_id, template_id, lock=True) is None:
        raise NotFound(f"no recall template {template_id}")
    return await storage.delete_template(session, tenant_id, template_id, deps.clock())


# --- customers' recalls (E6) -----------------------------------------------------------------


async def activate(session: AsyncSession, deps: Deps, staff: Staff, tenant_id: str, customer_id: uuid.UUID, template_id: uuid.UUID,
                   recall_date: date) -> RecallCard:
    """E6: recall the customer with a template from `recall_date`; a recall the customer already
    has on the template moves to the new date and starts its course again."""
    found = await storage.template(session, tenant_id, template_id)
    if found is None:
        raise NotFound(f"no recall template {template_id}")
    template, now = found.template, deps.clock()
    existing = await storage.active_recall(session, tenant_id, customer_id, template_id)
    if existing is not None:
        progress = domain.start(template, recall_date, course=existing.progress.course + 1, courses_done=existing.progress.courses_done)
        await storage.move_recall(session, existing.id, progress, now)
    else:
        recall = storage.CustomerRecall(uuid.uuid4(), tenant_id, customer_id, template_id, domain.start(template, recall_date), now)
        await storage.insert_recall(session, recall, staff.actor, now)
    after_commit(session, deps.evaluating.wake)
    return await storage.card(session, tenant_id, customer_id)


async def end_recall(session: AsyncSession, deps: Deps, staff: Staff, tenant_id: str, recall_id: uuid.UUID) -> RecallCard:
    recall = await storage.recall(session, tenant_id, recall_id)
    if recall is None:
        raise NotFound(f"no recall {recall_id}")
    if recall.progress.status != "active":
        raise Conflict(f"the recall is already {recall.progress.status}")
    ended = replace(recall.progress, next_step_day=None, status="ended")
    await storage.move_recall(session, recall.id, ended, deps.clock(), ended_reason=f"ended by {staff.actor}", date_set=False)
    return await storage.card(session, tenant_id, recall.customer_id)


# --- the recall list, approvals, markers (E4) ------------------------------------------------


async def _action(session: AsyncSession, tenant_id: str, action_id: uuid.UUID, state: str) -> storage.ActionRow:
    action = await storage.action(session, tenant_id, action_id)
    if action is None:
        raise NotFound(f"no recall action {action_id}")
    if action.state != state:
        raise Conflict(f"the action is {action.state}, not {state}")
    return action


async def approve(session: AsyncSession, deps: Deps, staff: Staff, tenant_id: str, action_id: uuid.UUID) -> list[ActionView]:
    """Staff approve a message that waits for approval: it is asked for now."""
    action = await _action(session, tenant_id, action_id, "awaiting-approval")
    recall = await storage.recall(session, tenant_id, action.recall_id)
    found = await projection.customer(session, tenant_id, action.customer_id)
    template = await storage.template(session, tenant_id, recall.template_id) if recall else None
    if found is None or template is None:
        raise Conflict("the customer or the template is no longer known")
    message = recall_message(deps, tenant_id, found[1], action.recall_id, action.id, action.channel or "sms",
                             action.template_key or "recall", template.template.service, action.recall_date)
    await outbox.put(session, message, tenant_id=tenant_id, event_id=action.id)
    await storage.update_action(session, action.id, deps.clock(), state="requested", handled_by=staff.actor)
    return await storage.actions_of(session, tenant_id, [action.recall_id])


async def reject(session: AsyncSession, deps: Deps, staff: Staff, tenant_id: str, action_id: uuid.UUID) -> list[ActionView]:
    action = await _action(session, tenant_id, action_id, "awaiting-approval")
    await storage.update_action(session, action.id, deps.clock(), state="rejected", handled_by=staff.actor)
    return await storage.actions_of(session, tenant_id, [action.recall_id])


async def resolve(session: AsyncSession, deps: Deps, staff: Staff, tenant_id: str, action_id: uuid.UUID) -> list[RecallListEntry]:
    """Staff take a customer off the recall list (called, booked by phone…)."""
    action = await _action(session, tenant_id, action_id, "listed")
    await storage.update_action(session, action.id, deps.clock(), state="resolved", handled_by=staff.actor)
    return await storage.recall_list(session, tenant_id)


async def set_marker(session: AsyncSession, deps: Deps, staff: Staff, tenant_id: str, customer_id: uuid.UUID,
                     marker: str | None) -> RecallCard:
    if marker:
        await storage.set_markers(session, tenant_id, [(customer_id, marker)], staff.actor, deps.clock())
    else:
        await storage.clear_marker(session, tenant_id, customer_id)
    return await storage.card(session, tenant_id, customer_id)


async def evaluate_now(session: AsyncSession, deps: Deps, staff: Staff, tenant_id: str) -> EvaluationSummary:
    """Run the evaluation for this tenant now (what the daily loop does), in this request."""
    staff.require("planner", "receptionist")
    return await evaluate_tenant(session, deps, tenant_id, deps.settings.evaluation_batch_size)


# --- auto-book's answers ---------------------------------------------------------------------


async def auto_book_answered(session: AsyncSession, message: BookingCommandApplied | BookingCommandRefused, envelope: Envelope, *,
                             deps: Deps) -> None:
    """The booking service booked the customer (the action is done) or found no free slot: the
    step's fallback runs (E4: SMS, e-mail, letter or the recall list). Answers to other services'
    commands, and a second answer to the same request, change nothing."""
    action = await storage.action(session, envelope.tenant_id, message.request_id)
    if action is None or action.kind != "auto-book" or action.state != "awaiting-booking":
        return
    now = deps.clock()
    if isinstance(message, BookingCommandApplied):
        await storage.update_action(session, action.id, now, state="booked", booking_id=message.booking_id,
                                    booked_start=message.starts_at)
        return
    state = "no-free-slot" if message.reason_code == "no-free-slot" else "refused"
    await storage.update_action(session, action.id, now, state=state, reason=message.reason)
    await _fall_back(session, deps, envelope.tenant_id, action, now, message.reason)


async def _fall_back(session: AsyncSession, deps: Deps, tenant_id: str, action: storage.ActionRow, now: datetime, why: str) -> None:
    fallback_id = domain.fallback_id(action.id)
    common = dict(id=fallback_id, recall_id=action.recall_id, customer_id=action.customer_id, course=action.course,
                  after_days=action.after_days, recall_date=action.recall_date, approval="automatic", fallback=None,
                  marker=action.marker, reason=f"auto-book: {why}", fallback_of=action.id)
    if action.fallback in ("sms", "email", "letter"):
        recall = await storage.recall(session, tenant_id, action.recall_id)
        template = await storage.template(session, tenant_id, recall.template_id) if recall else None
        snapshot = (await storage.contacts(session, tenant_id, [action.customer_id]))[action.customer_id]
        if template is not None:
            await storage.add_actions(session, tenant_id, [storage.ActionRow(
                **common, kind="send", channel=action.fallback, template_key=action.template_key or "recall", state="requested")], now)
            message = recall_message(deps, tenant_id, snapshot, action.recall_id, fallback_id, action.fallback,
                                     action.template_key or "recall", template.template.service, action.recall_date)
            await outbox.put(session, message, tenant_id=tenant_id, event_id=fallback_id)
            return
    await storage.add_actions(session, tenant_id, [storage.ActionRow(
        **common, kind="recall-list", channel=None, template_key=None, state="listed")], now)
    if action.marker:
        await storage.set_markers(session, tenant_id, [(action.customer_id, action.marker)], "recall", now)


async def delivery_changed(session: AsyncSession, message: NotificationStatusChanged, envelope: Envelope) -> bool:
    """The status of a recall message (the action's idempotency key names it). True if ours."""
    if not message.idempotency_key.startswith("recall:"):
        return False
    try:
        action_id = uuid.UUID(message.idempotency_key.split(":", 1)[1])
    except ValueError:
        return False
    await storage.record_action_delivery(session, envelope.tenant_id, action_id, message.status, message.at)
    return True


# --- till sales (E5) -------------------------------------------------------------------------


async def post_sale(session: AsyncSession, staff: Staff, tenant_id: str, sale: TillSaleRecorded) -> None:
    """A till that cannot produce to Kafka posts its sale; it is published on `sales.recorded`
    like any other, and handled from there."""
    await outbox.put(session, sale, tenant_id=tenant_id)


async def sale_recorded(session: AsyncSession, message: TillSaleRecorded, envelope: Envelope, *, deps: Deps) -> None:
    """E5: a sale of an item linked to a template moves the customer's recall date on that
    template to the day of the sale (seed 004, "Kasse flyt dato"); its course starts again from
    there. The same sale twice counts once; a sale older than the recall's current date
    (set by staff, a course or a later sale) changes nothing; a sale naming a customer number
    recall has not heard of yet waits for that customer."""
    tenant_id = envelope.tenant_id
    customer_id = message.customer_id
    if customer_id is None and message.customer_number:
        await storage.lock_customer_number(session, tenant_id, message.customer_number)
        customer_id = await projection.customer_by_number(session, tenant_id, message.customer_number)
    sale = storage.Sale(tenant_id, message.sale_id, customer_id, message.customer_number,
                        tuple(sorted({line.article_number for line in message.lines})), message.sold_at)
    if not await storage.add_sale(session, sale, deps.clock()):
        return
    if customer_id is not None:
        await _apply_sale(session, deps, replace(sale, customer_id=customer_id))


async def sales_waiting_for(session: AsyncSession, deps: Deps, tenant_id: str, customer_id: uuid.UUID, number: str | None) -> None:
    """A customer with a customer number arrived: sales that named the number apply now."""
    if not number:
        return
    await storage.lock_customer_number(session, tenant_id, number)
    for sale in await storage.unresolved_sales(session, tenant_id, number):
        await _apply_sale(session, deps, replace(sale, customer_id=customer_id))


async def _apply_sale(session: AsyncSession, deps: Deps, sale: storage.Sale) -> None:
    assert sale.customer_id is not None
    calendar = await storage.calendar(session, sale.tenant_id)
    now = deps.clock()
    moved = 0
    if calendar is not None:
        day = calendar.day_of(sale.sold_at)
        for recall, template in await storage.active_recalls_with_articles(session, sale.tenant_id, sale.customer_id,
                                                                           list(sale.article_numbers)):
            if sale.sold_at <= recall.date_set_at:
                continue
            progress = domain.start(template, day, course=recall.progress.course + 1, courses_done=recall.progress.courses_done)
            await storage.move_recall(session, recall.id, progress, now)
            moved += 1
        if moved:
            after_commit(session, deps.evaluating.wake)
    else:
        _log.warning("sale %s of tenant %s applied without moving recalls: the tenant's zone is not known yet", sale.sale_id, sale.tenant_id)
    await storage.sale_applied(session, sale.tenant_id, sale.sale_id, sale.customer_id, moved, now)
