"""The evaluation of recall steps (E2, E4): for each enabled tenant, every active recall whose
next step's day has come (its recall date plus the step's days, looked at the run offset early)
is decided, and the decision, its actions, its messages and the recall's next position are
written in one transaction.

Why each step runs once, with any number of replicas and crashes:
- recalls are claimed with `FOR UPDATE SKIP LOCKED`, so two replicas never hold the same one; a
  row another replica advanced while this one waited is re-checked when locked, and no longer due;
- the step run is recorded under its key (recall, course, step): a step decided before is never
  acted on again;
- a crash before the commit leaves nothing: the step is decided again later, and writes the same
  rows and the same messages, because every id (action, request, outbox event) is derived from
  (recall, course, step, action); a crash after the commit loses nothing (the outbox relay
  publishes later), and a message published twice carries the same event id and idempotency key.
Each round looks at a recall at most once (its `updated_at` moves to the round's instant), so a
recall with several steps overdue catches up one step per round, in order.
"""
from __future__ import annotations

import logging
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from prometheus_client import Counter as Metric
from sqlalchemy.ext.asyncio import AsyncSession

from bookflow_contracts import AutoBook, CustomerSnapshot, Message, SendNotification
from bookflow_recall.domain import recall as domain
from bookflow_recall.handlers import Deps
from bookflow_recall.handlers.book_again import booking_link
from bookflow_recall.storage import recall as storage
from bookflow_recall.views import EvaluationSummary
from bookflow_runtime import faults, outbox
from bookflow_runtime.database import Database
from bookflow_runtime.errors import Conflict
from bookflow_runtime.loop import run_rounds, together

_log = logging.getLogger(__name__)
STEPS = Metric("bookflow_recall_steps_total", "Recall steps decided", ["outcome"])


@dataclass
class Tally:
    outcomes: Counter = field(default_factory=Counter)
    actions: Counter = field(default_factory=Counter)

    def summary(self) -> EvaluationSummary:
        return EvaluationSummary(evaluated=sum(self.outcomes.values()), outcomes=dict(self.outcomes), actions=dict(self.actions))


def recall_message(deps: Deps, tenant_id: str, customer: CustomerSnapshot, recall_id: uuid.UUID, action_id: uuid.UUID,
                   channel: str, template_key: str, service: str, recall_date: date) -> SendNotification:
    """A recall by SMS, e-mail or letter (E4), with a link to online booking for the service."""
    return SendNotification.model_construct(  # every value comes from validated input; the evaluation makes thousands
        idempotency_key=f"recall:{action_id}", customer=customer, channels=[channel], template_key=template_key,
        data={"service": service, "recall_date": recall_date.isoformat(),
              "booking_url": booking_link(deps, tenant_id, customer.customer_id, service, "recall", recall_id)},
        booking_id=None, purpose="marketing", regarding=f"recall:{recall_id}", regarding_version=None, valid_until=None,
    )


def auto_book(tenant: storage.TenantRecall, customer_id: uuid.UUID, recall_id: uuid.UUID, action_id: uuid.UUID, service: str,
              recall_date: date, now: datetime) -> AutoBook:
    """E4: the first free slot from the recall date up to 30 days ahead (never in the past)."""
    calendar = tenant.calendar
    return AutoBook.model_construct(request_id=action_id, customer_id=customer_id, service=service,
                                    search_from=max(now, calendar.start_of(recall_date)),
                                    search_until=calendar.start_of(recall_date + timedelta(days=domain.AUTO_BOOK_DAYS)),
                                    source_ref=str(recall_id))


@dataclass
class _Writes:
    runs: list[storage.StepRun] = field(default_factory=list)
    actions: list[storage.ActionRow] = field(default_factory=list)
    messages: list[tuple[tuple[uuid.UUID, int, int], Message, uuid.UUID]] = field(default_factory=list)
    sends: list[tuple[tuple[uuid.UUID, int, int], storage.CustomerRecall, domain.Action, uuid.UUID, str]] = field(default_factory=list)
    """Messages to write once their customers' contact details are read (one query per batch)."""
    moves: list[tuple[uuid.UUID, domain.Progress]] = field(default_factory=list)
    markers: list[tuple[uuid.UUID, str]] = field(default_factory=list)
    leave: list[uuid.UUID] = field(default_factory=list)


async def evaluate_batch(session: AsyncSession, deps: Deps, tenant: storage.TenantRecall, now: datetime, limit: int,
                         tally: Tally) -> int:
    """Claim and decide up to `limit` due steps of one tenant; returns how many were claimed."""
    calendar = tenant.calendar
    horizon = domain.due_horizon(calendar.day_of(now), tenant.run_offset_days)
    due = await storage.claim_due(session, tenant.tenant_id, horizon, limit, before=now)
    if not due:
        return 0
    templates = {t.template.id: t.template for t in await storage.templates(session, tenant.tenant_id)}
    starts: dict[date, datetime] = {}

    def start_of(day: date) -> datetime:  # many recalls share their days
        instant = starts.get(day)
        if instant is None:
            instant = starts[day] = calendar.start_of(day)
        return instant

    w = _Writes()
    planned = []
    ids, customers, services, tolerance_from, tolerance_until, window_from = [], [], [], [], [], []
    for recall in due:
        template = templates.get(recall.template_id)
        progress = recall.progress
        step = template.step_at((progress.next_step_day - progress.recall_date).days) if template and progress.next_step_day else None
        if template is None or step is None:
            w.moves.append((recall.id, _without_step(template, progress)))
            continue
        ids.append(recall.id)
        customers.append(recall.customer_id)
        services.append(template.service)
        tolerance_from.append(start_of(domain.tolerance_start(template, progress.recall_date)))
        tolerance_until.append(start_of(progress.recall_date))
        window_from.append(start_of(domain.window_start(template, progress.recall_date, tenant.run_offset_days)))
        planned.append((recall, template, step))
    found = await storage.facts(session, tenant.tenant_id, ids, customers, services, tolerance_from, tolerance_until, window_from, now)
    for recall, template, step in planned:
        progress = recall.progress
        decision = domain.decide(template, step, found[recall.id], progress)
        key = (recall.id, progress.course, step.after_days)
        w.runs.append(storage.StepRun(recall.id, progress.course, step.after_days, progress.recall_date, decision.outcome,
                                      decision.criterion))
        w.moves.append((recall.id, decision.progress))
        if decision.outcome in ("skipped", "ended"):
            w.leave.append(recall.id)
        for index, action in enumerate(decision.actions):
            _plan(tenant, recall, template, action, domain.action_id(recall.id, progress.course, step.after_days, index), key, now, w)
    if w.sends:
        contacts = await storage.contacts(session, tenant.tenant_id, (recall.customer_id for _, recall, _, _, _ in w.sends))
        for key, recall, action, action_id, service in w.sends:
            w.messages.append((key, recall_message(deps, tenant.tenant_id, contacts[recall.customer_id], recall.id, action_id,
                                                   action.channel or "sms", action.template_key, service, recall.progress.recall_date),
                               action_id))
    fresh = await storage.record_step_runs(session, tenant.tenant_id, w.runs, now)
    w.actions = [a for a in w.actions if (a.recall_id, a.course, a.after_days) in fresh]
    await storage.add_actions(session, tenant.tenant_id, w.actions, now)
    await outbox.put_many(session, (
        (outbox.envelope_for(message, tenant_id=tenant.tenant_id, occurred_at=now, event_id=event_id), message.topic)
        for key, message, event_id in w.messages if key in fresh))
    await storage.move_recalls(session, w.moves, now)
    await storage.set_markers(session, tenant.tenant_id, w.markers, "recall", now)
    await storage.leave_list(session, w.leave, "the course ended: the customer booked or came", now)
    decided = Counter(run.outcome for run in w.runs if (run.recall_id, run.course, run.after_days) in fresh)
    for outcome, count in decided.items():
        tally.outcomes[outcome] += count
        STEPS.labels(outcome).inc(count)
    for action in w.actions:
        tally.actions[action.kind if action.state != "awaiting-approval" else "awaiting-approval"] += 1
    faults.point("recall.evaluation-before-commit")  # decided and written, not committed
    return len(due)


def _without_step(template: domain.Template | None, progress: domain.Progress) -> domain.Progress:
    """A due recall whose step is gone (the template's steps changed): on to the next step, or
    the next course; a recall of a deleted template ends (see storage.delete_template)."""
    if template is None:
        return domain.Progress(progress.recall_date, progress.course, progress.courses_done, progress.last_step_days, None, "ended")
    moved = domain.reschedule(progress, template)
    if moved.next_step_day is None or moved.next_step_day == progress.next_step_day:
        return domain.next_course(template, progress)
    return moved


def _plan(tenant: storage.TenantRecall, recall: storage.CustomerRecall, template: domain.Template, action: domain.Action,
          action_id: uuid.UUID, key: tuple[uuid.UUID, int, int], now: datetime, w: _Writes) -> None:
    progress = recall.progress
    if action.kind == "send":
        state = "awaiting-approval" if action.approval == "staff" else "requested"
        if state == "requested":
            w.sends.append((key, recall, action, action_id, template.service))
    elif action.kind == "auto-book":
        state = "awaiting-booking"
        w.messages.append((key, auto_book(tenant, recall.customer_id, recall.id, action_id, template.service, progress.recall_date, now),
                           action_id))
    else:
        state = "listed"
        if action.marker:
            w.markers.append((recall.customer_id, action.marker))
    w.actions.append(storage.ActionRow(action_id, recall.id, recall.customer_id, progress.course, key[2], progress.recall_date,
                                       action.kind, action.channel, action.template_key, action.approval, action.fallback,
                                       action.marker, state))


async def evaluate_tenant(session: AsyncSession, deps: Deps, tenant_id: str, batch_size: int) -> EvaluationSummary:
    """Staff's "evaluate now": one round for one tenant, in the caller's transaction."""
    tenant = await storage.tenant_recall(session, tenant_id)
    if tenant is None:
        raise Conflict("recall is not enabled for this tenant (or its time zone has not reached recall yet)")
    tally, now = Tally(), deps.clock()
    while await evaluate_batch(session, deps, tenant, now, batch_size, tally) == batch_size:
        pass
    return tally.summary()


class RecallEvaluation:
    """The daily evaluation loop: a round for every enabled tenant, then rest until some tenant's
    next day begins (or `evaluation_rest_seconds`), woken early when staff change recalls."""

    def __init__(self, db: Database, deps: Deps) -> None:
        self.db, self.deps = db, deps
        self.batch_size = deps.settings.evaluation_batch_size
        self.workers = deps.settings.evaluation_workers

    async def run(self) -> None:
        await run_rounds("recall evaluation", self.round, self.deps.evaluating)

    async def _drain(self, tenant: storage.TenantRecall, now: datetime, tally: Tally) -> None:
        while True:
            async with self.db.transaction() as session:
                claimed = await evaluate_batch(session, self.deps, tenant, now, self.batch_size, tally)
            if claimed < self.batch_size:
                return

    async def round(self, *, report: bool = False) -> float | Tally:
        """Evaluate every enabled tenant once; returns how long to rest (or, with `report`, the
        tally: the benchmark runs exactly this)."""
        now = self.deps.clock()
        async with self.db.transaction() as session:
            tenants = await storage.enabled_tenants(session)
        tally = Tally()
        for tenant in tenants:
            # Several transactions at once: while one waits for the database, another decides
            # (claims skip each other's rows).
            await together(*(self._drain(tenant, now, tally) for _ in range(self.workers)))
        if report:
            return tally
        if tally.outcomes:
            _log.info("recall evaluation decided %d steps: %s", sum(tally.outcomes.values()), dict(tally.outcomes))
            return 0  # overdue steps of the same recalls may follow, one per round
        rest = self.deps.settings.evaluation_rest_seconds
        for tenant in tenants:
            rest = min(rest, (tenant.calendar.next_day_starts(now) - now).total_seconds())
        return max(rest, 0.05)

