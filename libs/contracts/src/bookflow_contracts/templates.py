"""The messages the flows send, by template key, with the placeholders each request's `data`
fills. The requester (booking, check-in, recall) and the renderer (notification) both read this
list, so a request never names a template the renderer does not know, and a tenant's edited
template is checked against the placeholders it may use.

Every template also gets `customer` (the request's CustomerSnapshot, with `first_name`), `tenant`
(name, phone, email, website, reply number: how to reach the business) and `channel` (sms,
email, letter) to use.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class TemplateSpec:
    key: str
    purpose: Literal["service", "marketing"]
    placeholders: tuple[str, ...]
    description: str


TEMPLATES: dict[str, TemplateSpec] = {
    spec.key: spec
    for spec in (
        TemplateSpec("booking-notice", "service", ("service", "starts_at", "place", "my_pages_url", "my_pages_short_url", "booking_id",
                                                   "extra_info", "needs_confirmation"),
                     "A1: the notice letter with time, place, extra information and the link to My pages (short and typeable "
                     "on paper); `needs_confirmation` is true only where the customer must confirm or rebook (the "
                     "confirmation flow), false where My pages only shows the booking."),
        TemplateSpec("confirm-reminder", "service", ("service", "starts_at", "my_pages_url", "cancel_at", "booking_id"),
                     "A3: SMS reminder to confirm or rebook, with the link and when the booking is otherwise cancelled."),
        TemplateSpec("booking-released", "service", ("service", "starts_at", "booking_id"),
                     "A4: the unconfirmed booking was cancelled at the deadline."),
        TemplateSpec("order-letter", "service", ("service", "starts_at", "place", "booking_code", "reply_number", "booking_id",
                                                 "extra_info"),
                     "B2: letter booking of a work order, with the booking code, how to reply and extra information."),
        TemplateSpec("booking-reminder", "service", ("service", "starts_at", "booking_code", "reply_number", "booking_id"),
                     "B4: no answer in time; reminder to answer with the code."),
        TemplateSpec("appointment-reminder", "service", ("service", "starts_at", "place", "booking_id"),
                     "B6: the day before the appointment."),
        TemplateSpec("booking-confirmation", "service", ("service", "starts_at", "place", "booking_id"),
                     "B7: the planner confirms the booking by SMS."),
        TemplateSpec("checkin-link", "service", ("service", "starts_at", "checkin_url", "booking_id"),
                     "C1: link to the online check-in page."),
        TemplateSpec("book-again", "marketing", ("service", "booking_url"),
                     "D2: reminder to book again, with a link to online booking."),
        TemplateSpec("recall", "marketing", ("service", "recall_date", "booking_url"),
                     "E4: recall by SMS, e-mail or letter."),
    )
}
