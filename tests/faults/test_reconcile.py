"""The reconciliation the fault campaign (and later flows' campaigns) relies on, on made-up
histories: what counts as expected, delivered, duplicate, missing, stale, raced, withheld, in
doubt and unrequested. No broker, no database."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.faults.campaign import BookingRecord, Requested, reconcile
from tests.faults.provider import Receipt

T0 = datetime(2025, 1, 7, 12, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def booking(n: int, *transitions: tuple[str, float]) -> BookingRecord:
    history = [{"transition": name, "actor": "customer" if name == "confirm" else "system", "at": at(t).isoformat()}
               for name, t in transitions]
    return BookingRecord(f"b{n}", "t", f"+4670100000{n}", "confirmed" if transitions else "unconfirmed", history)


def asked(n: int, template: str, version: int, t: float, valid_until: float | None = None) -> Requested:
    return Requested(f"booking:b{n}:v{version}:{template}", "t", f"b{n}", version, template, at(t),
                     at(valid_until) if valid_until is not None else None)


def got(n: int, template: str, t: float) -> Receipt:
    return Receipt(at(t), f"+4670100000{n}", "Pinea", f"[[{template}]] Hej!", f"s{n}{t}")


def test_a_notice_and_a_reminder_sent_before_the_confirmation_are_delivered_not_stale():
    b = booking(1, ("confirm", 20))
    result = reconcile([asked(1, "booking-notice", 0, 0), asked(1, "confirm-reminder", 0, 10)],
                       [got(1, "booking-notice", 1), got(1, "confirm-reminder", 11)], [b], {})
    assert result.figures["stale"] == result.figures["duplicates"] == result.figures["unrequested"] == 0
    assert result.figures["expected"] == 0  # both ended with the confirmation, both before it


def test_a_reminder_received_after_the_confirmation_is_stale_and_within_a_second_raced():
    bookings = [booking(1, ("confirm", 20)), booking(2, ("confirm", 20))]
    result = reconcile([asked(1, "confirm-reminder", 0, 10), asked(2, "confirm-reminder", 0, 10)],
                       [got(1, "confirm-reminder", 31), got(2, "confirm-reminder", 20.4)], bookings, {})
    assert (result.figures["stale"], result.figures["raced"]) == (1, 1)
    assert any(p.startswith("STALE confirm-reminder v0 of booking b1") and "+11.00 s" in p for p in result.problems)


def test_no_race_is_excused_for_a_change_made_while_nothing_could_be_sent():
    b = booking(1, ("confirm", 20))
    result = reconcile([asked(1, "confirm-reminder", 0, 10)], [got(1, "confirm-reminder", 20.4)], [b], {},
                       nothing_sendable=[(at(15), at(25))])
    assert (result.figures["stale"], result.figures["raced"]) == (1, 0)


def test_a_message_still_meant_must_arrive_exactly_once():
    bookings = [booking(1), booking(2), booking(3)]
    requests = [asked(n, "booking-notice", 0, 0) for n in (1, 2, 3)]
    result = reconcile(requests, [got(1, "booking-notice", 1), got(2, "booking-notice", 1), got(2, "booking-notice", 2)],
                       bookings, {"booking:b3:v0:booking-notice": ("failed", "46elks answered 503")})
    f = result.figures
    assert (f["expected"], f["delivered"], f["duplicates"], f["missing"]) == (3, 2, 1, 1)
    assert any(p.startswith("MISSING booking-notice v0 of booking b3") and "503" in p for p in result.problems)


def test_a_valid_until_still_ahead_keeps_a_message_meant_and_one_passed_ends_it():
    bookings = [booking(1), booking(2)]
    far, gone = datetime.now(UTC) + timedelta(hours=1), at(5)
    requests = [Requested("booking:b1:v0:booking-notice", "t", "b1", 0, "booking-notice", at(0), far),
                Requested("booking:b2:v0:order-letter", "t", "b2", 0, "order-letter", at(0), gone)]
    result = reconcile(requests, [], bookings, {"booking:b2:v0:order-letter": ("failed", "its purpose passed")})
    assert (result.figures["expected"], result.figures["missing"], result.figures["withheld"]) == (1, 1, 1)


def test_a_message_whose_purpose_ended_must_be_withdrawn_suppressed_or_failed_not_left_waiting():
    bookings = [booking(1, ("confirm", 20)), booking(2, ("confirm", 20))]
    requests = [asked(1, "confirm-reminder", 0, 10), asked(2, "confirm-reminder", 0, 10)]
    result = reconcile(requests, [], bookings, {"booking:b1:v0:confirm-reminder": ("withdrawn", "confirmed"),
                                                "booking:b2:v0:confirm-reminder": ("queued", None)})
    assert (result.figures["withheld"], result.figures["unaccounted"]) == (1, 1)


def test_messages_nobody_asked_for_and_flows_steps_never_asked_for_are_reported():
    result = reconcile([], [got(1, "confirm-reminder", 3), got(9, "booking-notice", 3)], [booking(1)], {},
                       required=[("b1", "booking-notice", "every booking gets its notice")])
    assert (result.figures["unrequested"], result.figures["missing"]) == (2, 1)
    assert any("NEVER REQUESTED booking-notice of booking b1" in p for p in result.problems)


def test_a_message_lost_to_a_kill_mid_send_is_in_doubt_but_to_a_graceful_stop_missing():
    bookings = [booking(1), booking(2)]
    requests = [asked(1, "booking-notice", 0, 0), asked(2, "booking-notice", 0, 0)]
    unknown = ("failed", "outcome unknown: the service stopped between handing the message to 46elks and recording the answer")
    statuses = {"booking:b1:v0:booking-notice": unknown, "booking:b2:v0:booking-notice": unknown}
    killed = reconcile(requests, [], bookings, statuses, sender_killed=[at(1)])
    stopped = reconcile(requests, [], bookings, statuses)
    assert (killed.figures["in_doubt"], killed.figures["missing"]) == (2, 0)
    assert (stopped.figures["in_doubt"], stopped.figures["missing"]) == (0, 2)


def test_two_bookings_for_one_retried_request_are_a_double_booking():
    twice = [booking(1), BookingRecord("b1-again", "t", "+46701000001", "unconfirmed", [])]
    result = reconcile([asked(1, "booking-notice", 0, 0)], [got(1, "booking-notice", 1)], twice, {})
    assert result.figures["double_bookings"] == 1
