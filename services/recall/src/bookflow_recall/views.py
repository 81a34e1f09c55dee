"""What staff read from the recall service: the typed answers of its read routes, filled by the
storage queries."""
from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal

from pydantic import BaseModel, Field

# --- booking history -------------------------------------------------------------------------

SOURCE_LABELS = {
    "staff": "by staff", "my-pages-rebook": "rebooked on My pages", "online-booking": "online booking",
    "book-again": "via book-again reminder", "recall-auto-book": "recall auto-book", "recall": "via recall",
}


class HistoryBooking(BaseModel):
    """One booking of the customer as recall keeps it (D5: where it came from)."""

    booking_id: uuid.UUID
    tenant_id: str
    customer_id: uuid.UUID
    service: str
    starts_at: datetime
    ends_at: datetime | None
    state: str
    version: int
    source: str = Field(description="Where the booking came from: staff, my-pages-rebook, online-booking, book-again, recall-auto-book, recall.")
    source_label: str = Field(description="The same in words, such as `via book-again reminder` (D5).")
    source_ref: str | None = Field(description="The book-again reminder or recall that made it, if any.")
    booked_at: datetime | None = Field(description="When it was made.")
    updated_at: datetime


# --- book-again ------------------------------------------------------------------------------


class ReminderEvent(BaseModel):
    at: datetime
    kind: str = Field(description="set, due, sent, queued, delivered, failed, suppressed, withdrawn, withdrawal-asked, "
                                  "cancelled, booked-via-link.")
    detail: str | None = None
    booking_id: uuid.UUID | None = None


class ReminderView(BaseModel):
    """One book-again reminder with its status, send date and history (D3), and its SMS's
    delivery and cost (D6)."""

    id: uuid.UUID
    customer_id: uuid.UUID
    booking_id: uuid.UUID = Field(description="The booking it was set from.")
    service: str
    after: int
    unit: str
    set_at: datetime
    set_by: str
    send_at: datetime = Field(description="When the SMS goes (or went) out.")
    state: str = Field(description="scheduled, due (waiting a moment for late bookings), sent, cancelled.")
    active: bool
    cancel_reason: str | None = None
    cancelled_at: datetime | None = None
    sent_at: datetime | None = None
    delivery_status: str | None = Field(None, description="queued, sent, delivered, failed, suppressed, withdrawn.")
    delivered_at: datetime | None = None
    delivery_reason: str | None = None
    cost: Decimal | None = Field(None, description="Billed for the delivered SMS, before VAT.")
    currency: str | None = None
    payer: str | None = None
    segments: int | None = None
    bookings_via_link: list[uuid.UUID] = Field(default_factory=list, description="Bookings the customer made through its link (D5).")
    history: list[ReminderEvent] = Field(default_factory=list)


class BookAgainCard(BaseModel):
    """What a booking and the customer card show (D3): the active reminder and every reminder."""

    customer_id: uuid.UUID
    active: ReminderView | None
    reminders: list[ReminderView]


# --- recall ----------------------------------------------------------------------------------


class StepRunView(BaseModel):
    course: int
    after_days: int
    recall_date: date
    ran_at: datetime
    outcome: str = Field(description="skipped (completed within the tolerance), ended, acted, passed.")
    criterion: str | None


class ActionView(BaseModel):
    id: uuid.UUID
    recall_id: uuid.UUID
    customer_id: uuid.UUID
    course: int
    after_days: int
    recall_date: date
    kind: str = Field(description="send, auto-book, recall-list.")
    channel: str | None
    template_key: str | None
    approval: str
    fallback: str | None
    marker: str | None
    state: str = Field(description="requested, awaiting-approval, rejected, awaiting-booking, booked, no-free-slot, refused, "
                                   "listed, resolved.")
    reason: str | None
    fallback_of: uuid.UUID | None
    booking_id: uuid.UUID | None
    booked_start: datetime | None
    delivery_status: str | None
    created_at: datetime
    updated_at: datetime
    handled_by: str | None


class RecallView(BaseModel):
    id: uuid.UUID
    customer_id: uuid.UUID
    template_id: uuid.UUID
    template_name: str
    service: str
    recall_date: date = Field(description="The current course's recall date.")
    course: int
    courses_done: int
    next_step_day: date | None = Field(description="The day the next step runs (before the run offset).")
    status: str = Field(description="active, finished (ran its number of times), ended (by staff or a deleted template).")
    ended_reason: str | None
    created_at: datetime
    created_by: str
    steps: list[StepRunView] = Field(default_factory=list)
    actions: list[ActionView] = Field(default_factory=list)


class RecallCard(BaseModel):
    """The recall tab of the customer card (E1, E6)."""

    customer_id: uuid.UUID
    marker: str | None
    missing_recall: bool = Field(description="E1: had a recalled service but has no active recall (when the tenant shows the flag).")
    recalls: list[RecallView]


class RecallListEntry(BaseModel):
    """A customer on the recall list (E4), with their marker."""

    action: ActionView
    customer_name: str | None
    phone: str | None
    email: str | None
    marker: str | None
    template_name: str
    service: str


class MissingRecall(BaseModel):
    customer_id: uuid.UUID
    name: str | None
    phone: str | None
    services: list[str] = Field(description="The recalled services the customer has had.")
    last_booking_at: datetime | None


class EvaluationSummary(BaseModel):
    evaluated: int = Field(description="Steps decided.")
    outcomes: dict[str, int]
    actions: dict[str, int]
