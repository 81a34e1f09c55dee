"""Timer rules without I/O."""
from datetime import UTC, datetime, timedelta

from bookflow_scheduler.domain import DueTimer, firing_event_id, reminder_for

DUE = datetime(2026, 3, 29, 0, 30, tzinfo=UTC)


def a_timer(generation: int = 1) -> DueTimer:
    return DueTimer(7, "acme", "booking:1:confirm-reminder", DUE, {"booking_id": "1"}, generation)


def test_a_firing_has_the_same_event_id_every_time_and_a_reschedule_a_new_one():
    assert firing_event_id(a_timer()) == firing_event_id(a_timer())
    assert firing_event_id(a_timer(2)) != firing_event_id(a_timer(1))


def test_the_reminder_hands_back_the_payload_and_says_how_late_it_is():
    due = reminder_for(a_timer(), DUE + timedelta(milliseconds=1250))
    assert (due.timer_key, due.payload, due.lateness_ms) == ("booking:1:confirm-reminder", {"booking_id": "1"}, 1250)
    assert reminder_for(a_timer(), DUE - timedelta(milliseconds=3)).lateness_ms == 0
