"""Further parts of the booking service's flows (A, B); shared messages are in messages.py.

The states a booking (work order) can be in, as they appear in `booking.created.state` and in
`order.transitioned.from_state` / `to_state`, so consumers can name them without guessing.
"""

from __future__ import annotations

from typing import Literal

BookingState = Literal[
    "unconfirmed",  # flow A: the notice went out, the customer has not confirmed
    "confirmed",  # flow A: the customer confirmed (on My pages, or staff on their word)
    "booked",  # flow "none": nothing to confirm
    "planned",  # flow B: a work order on a technician's calendar, not yet locked
    "ready-for-print",  # flow B: locked with a booking code, letter not yet generated
    "awaiting-response",  # flow B: letter or booking SMS sent, waiting for the customer's reply
    "ready-for-execution",  # flow B: the customer (or the planner) confirmed
    "manual-follow-up",  # flow B: a person must call the customer
    "on-hold",  # flow B: the customer is away until about a date
    "cancelled",  # any flow: cancelled, rebooked or released
]
BOOKING_STATES: tuple[str, ...] = BookingState.__args__
WORK_LIST_STATES: tuple[str, ...] = ("confirmed", "ready-for-execution", "booked")
"""The states a technician's work list shows (A5, B8)."""

__all__ = ["BOOKING_STATES", "WORK_LIST_STATES", "BookingState"]
