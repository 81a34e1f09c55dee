"""Recall courses (flow E, seed 004 "Genindkald"): templates with steps, the criteria a step reads
from the customer's bookings of the service, the actions it takes, and where a customer's recall
goes after each step.

A customer's recall has a recall date and runs one course per date: each step of the template
runs once, `after_days` after the recall date, looked at `run_offset_days` early (E2, "Kør
forskudt": a recall on 20 May with offset 10 is picked up on 10 May). A course ends when a
criterion marked "end course" matches, when the customer had a completed booking of the service
within the tolerance (E3: "the customer leaves the list"), or after its last step; then the
recall date moves `frequency` ahead, until the template's number of times is reached.

Which bookings count (the seed leaves the window open; this is ours, and the same in the SQL of
the benchmark's floor):
- tolerance: a completed booking of the service starting in the tolerance days before the recall
  date (on or after recall date − tolerance, before the recall date; none when the tolerance is 0);
- the step criteria look at bookings of the service starting on or after the course's window
  start, recall date − max(tolerance, run offset) days (so a visit after the letter went out,
  before the recall date, counts):
  - completed: a completed booking in the window;
  - future: a booking that starts after now and is still on (not cancelled, completed, no-show, deleted);
  - no-show: a no-show in the window;
  - deleted: the latest booking in the window was deleted or cancelled;
  - none: no booking in the window and none in the future.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass, field, replace
from functools import cached_property
from datetime import date, timedelta
from typing import Literal

from bookflow_recall.domain.calendar import Unit, add

Criterion = Literal["completed", "future", "no-show", "deleted", "none"]
CRITERIA: tuple[str, ...] = Criterion.__args__
SendChannel = Literal["sms", "email", "letter"]
Fallback = Literal["sms", "email", "letter", "recall-list"]
Outcome = Literal["skipped", "ended", "acted", "passed"]
"""skipped: completed within the tolerance; ended: a criterion ends the course; acted: the
step's actions ran; passed: the step has criteria and none matched, so it did nothing."""
RecallStatus = Literal["active", "finished", "ended"]

AUTO_BOOK_DAYS = 30
"""E4: auto-book searches free slots from the recall date this many days ahead (seed 004: "søger 30 dage frem")."""


@dataclass(frozen=True)
class Rule:
    """One criterion a step looks for, and whether it ends the course (seed: "Afslut forløb")."""

    when: Criterion
    end_course: bool = False


@dataclass(frozen=True)
class Action:
    """What a step does. `send`: a message by `channel` from `template_key`, at once or after staff
    approve it; `auto-book`: book the first free slot, else `fallback`; `recall-list`: put the
    customer on the recall list with `marker`."""

    kind: Literal["send", "auto-book", "recall-list"]
    channel: SendChannel | None = None
    template_key: str = "recall"
    approval: Literal["automatic", "staff"] = "automatic"
    fallback: Fallback | None = None
    marker: str | None = None


@dataclass(frozen=True)
class Step:
    after_days: int
    rules: tuple[Rule, ...] = ()
    actions: tuple[Action, ...] = ()


@dataclass(frozen=True)
class Template:
    id: uuid.UUID
    tenant_id: str
    name: str
    service: str
    tolerance_days: int
    frequency: int
    frequency_unit: Unit
    times: int | None
    """How many courses: 1 is "once", None is "unlimited"."""
    article_numbers: tuple[str, ...] = ()
    steps: tuple[Step, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "steps", tuple(sorted(self.steps, key=lambda s: s.after_days)))

    def step_at(self, after_days: int) -> Step | None:
        return self._by_days.get(after_days)

    def step_after(self, after_days: int | None) -> Step | None:
        """The first step after the one at `after_days` (the first of all when None)."""
        if after_days is None:
            return self.steps[0] if self.steps else None
        following = self._following.get(after_days, self)
        if following is not self:
            return following  # type: ignore[return-value]
        return next((s for s in self.steps if s.after_days > after_days), None)

    @cached_property
    def _by_days(self) -> dict[int, Step]:
        return {s.after_days: s for s in self.steps}

    @cached_property
    def _following(self) -> dict[int, Step | None]:
        return {s.after_days: (self.steps[i + 1] if i + 1 < len(self.steps) else None) for i, s in enumerate(self.steps)}


@dataclass(frozen=True)
class Progress:
    """Where one customer's recall stands."""

    recall_date: date
    course: int = 1
    courses_done: int = 0
    last_step_days: int | None = None
    next_step_day: date | None = None
    """The recall date plus the next step's days (the run offset is applied when looking)."""
    status: RecallStatus = "active"


def start(template: Template, recall_date: date, *, course: int = 1, courses_done: int = 0) -> Progress:
    """A course at `recall_date`, before its first step."""
    first = template.step_after(None)
    return Progress(recall_date, course, courses_done, None, recall_date + timedelta(days=first.after_days) if first else None)


def reschedule(progress: Progress, template: Template) -> Progress:
    """The same position after the template's steps changed (or the recall date moved)."""
    nxt = template.step_after(progress.last_step_days)
    return replace(progress, next_step_day=progress.recall_date + timedelta(days=nxt.after_days) if nxt else None)


def window_start(template: Template, recall_date: date, run_offset_days: int) -> date:
    """The first day whose bookings the step criteria look at."""
    return recall_date - timedelta(days=max(template.tolerance_days, run_offset_days))


def tolerance_start(template: Template, recall_date: date) -> date:
    """The first day of the tolerance; it ends before the recall date."""
    return recall_date - timedelta(days=template.tolerance_days)


@dataclass(frozen=True)
class Facts:
    """The customer's bookings of the template's service, as the criteria read them."""

    completed_within_tolerance: bool = False
    completed: bool = False
    future: bool = False
    no_show: bool = False
    latest_deleted: bool = False
    any_in_window: bool = False

    def matches(self) -> set[str]:
        found = set()
        if self.completed:
            found.add("completed")
        if self.future:
            found.add("future")
        if self.no_show:
            found.add("no-show")
        if self.latest_deleted:
            found.add("deleted")
        if not self.any_in_window and not self.future:
            found.add("none")
        return found


@dataclass(frozen=True)
class Decision:
    step: Step
    outcome: Outcome
    criterion: str | None
    actions: tuple[Action, ...]
    progress: Progress
    course_over: bool = field(default=False)


def decide(template: Template, step: Step, facts: Facts, progress: Progress) -> Decision:
    """Run one step of a course: its outcome, the actions to take, and where the recall goes next."""
    if facts.completed_within_tolerance:
        outcome, criterion, actions = "skipped", "completed", ()
    else:
        matched = facts.matches()
        ending = [r.when for r in step.rules if r.end_course and r.when in matched]
        acting = [r.when for r in step.rules if not r.end_course and r.when in matched]
        if ending:
            outcome, criterion, actions = "ended", ending[0], ()
        elif not step.rules or acting:
            outcome, criterion, actions = "acted", (acting[0] if acting else None), step.actions
        else:
            outcome, criterion, actions = "passed", None, ()
    nxt = template.step_after(step.after_days)
    if outcome in ("skipped", "ended") or nxt is None:
        return Decision(step, outcome, criterion, actions, next_course(template, progress), course_over=True)
    moved = Progress(progress.recall_date, progress.course, progress.courses_done, step.after_days,
                     progress.recall_date + timedelta(days=nxt.after_days), progress.status)
    return Decision(step, outcome, criterion, actions, moved)


def next_course(template: Template, progress: Progress) -> Progress:
    """After a course: the recall date moves `frequency` ahead (E3), or the recall is finished
    when it has run its number of times."""
    done = progress.courses_done + 1
    if template.times is not None and done >= template.times:
        return replace(progress, courses_done=done, last_step_days=None, next_step_day=None, status="finished")
    return start(template, add(progress.recall_date, template.frequency, template.frequency_unit),
                 course=progress.course + 1, courses_done=done)


def due_horizon(today: date, run_offset_days: int) -> date:
    """Steps whose day (recall date + after days) is on or before this day are due (E2)."""
    return today + timedelta(days=run_offset_days)


_IDS = uuid.UUID("3b1f7c52-9a0e-4d0b-8f2a-6e1c0d9b7a41")


def action_id(recall_id: uuid.UUID, course: int, after_days: int, index: int) -> uuid.UUID:
    """The same action of the same step of the same course always has the same id, so a step
    decided again after a crash writes the same rows and messages (consumers and the
    notification service recognise them)."""
    return uuid.uuid5(_IDS, f"{recall_id}:{course}:{after_days}:{index}")


def fallback_id(action: uuid.UUID) -> uuid.UUID:
    """The id of the action an auto-book falls back to. An action sends at most one message, so
    its id is also the id of that message's event in the outbox."""
    return uuid.uuid5(_IDS, f"{action}:fallback")
