"""Check-in's rules without I/O: when the link goes out, the order events arrive in, what
handling an item means, and how bad link attempts are counted."""
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bookflow_checkin import domain
from bookflow_contracts import BookingCreated, BookingSnapshot, CancelTimer, CustomerSnapshot, SetTimer, WithdrawNotifications

AMSTERDAM = ZoneInfo("Europe/Amsterdam")
NOW = datetime(2027, 3, 1, 12, 0, tzinfo=UTC)
TENANT = domain.Tenant("garage", "Garage", "Europe/Amsterdam", "nl")
ON = domain.Rules(enabled=True)


def appointment(**kw) -> domain.Appointment:
    start = datetime(2027, 3, 29, 9, 0, tzinfo=AMSTERDAM)
    base = domain.Appointment(uuid.uuid4(), "garage", uuid.uuid4(), "apk", start, start + timedelta(hours=1), "booked", 0,
                              created_known=True, customer=CustomerSnapshot(customer_id=uuid.uuid4(), name="Jan"))
    return replace(base, **kw)


def test_three_days_before_keeps_the_hour_across_the_change_to_summer_time():
    start = datetime(2027, 3, 29, 9, 0, tzinfo=AMSTERDAM)
    assert domain.link_due_at(start, timedelta(days=3), AMSTERDAM) == datetime(2027, 3, 26, 9, 0, tzinfo=AMSTERDAM)
    assert domain.link_due_at(start, timedelta(days=1, hours=2), AMSTERDAM) == datetime(2027, 3, 28, 7, 0, tzinfo=AMSTERDAM)
    assert domain.link_due_at(start, timedelta(seconds=20), AMSTERDAM) == start - timedelta(seconds=20)


def test_the_preferred_channel_comes_first_then_the_other():
    customer = CustomerSnapshot(customer_id=uuid.uuid4())
    assert domain.channels_for(customer.model_copy(update={"preferred_channel": "email"})) == ["email", "sms"]
    assert domain.channels_for(customer.model_copy(update={"preferred_channel": "sms"})) == ["sms", "email"]
    assert domain.channels_for(customer.model_copy(update={"preferred_channel": "letter"})) == ["sms", "email"]
    assert domain.channels_for(customer) == ["sms", "email"]


def test_a_new_booking_gets_a_timer_and_an_unchanged_one_no_second():
    new = appointment()
    plan = domain.replan(None, new, TENANT, ON, NOW)
    [set_timer] = plan.messages
    assert isinstance(set_timer, SetTimer) and set_timer.timer_key == f"checkin:{new.booking_id}:link"
    assert domain.replan(new, replace(new, link_timer_due=plan.link_timer_due), TENANT, ON, NOW).messages == ()


@pytest.mark.parametrize("why, tenant, rules, change", [
    ("check-in is off", TENANT, domain.Rules(), {}),
    ("the zone is unknown", domain.Tenant("garage"), ON, {}),
    ("the customer is unknown", TENANT, ON, {"created_known": False}),
    ("the booking has begun", TENANT, ON, {"starts_at": NOW - timedelta(minutes=1)}),
])
def test_no_link_is_planned_when(why, tenant, rules, change):
    assert domain.replan(None, appointment(**change), tenant, rules, NOW).messages == (), why


def test_an_ended_booking_cancels_its_timer_and_withdraws_once():
    planned = appointment(link_timer_due=NOW + timedelta(days=1))
    cancelled = replace(planned, state="cancelled", version=1)
    kinds = [type(m) for m in domain.replan(planned, cancelled, TENANT, ON, NOW).messages]
    assert kinds == [CancelTimer, WithdrawNotifications]
    done = replace(cancelled, link_timer_due=None)
    assert domain.replan(done, replace(done, version=2), TENANT, ON, NOW).messages == ()


def test_a_snapshot_newer_than_the_projection_wins_and_an_older_one_is_ignored():
    kept = appointment(version=3, state="cancelled")
    snapshot = BookingSnapshot(booking_id=kept.booking_id, customer_id=kept.customer_id, service="apk", starts_at=kept.starts_at,
                               ends_at=kept.ends_at, state="confirmed", version=2)
    assert domain.from_snapshot(kept, snapshot, "garage") is None
    assert domain.from_snapshot(kept, snapshot.model_copy(update={"version": 4}), "garage").state == "confirmed"


def test_a_creation_after_a_newer_change_fills_in_the_customer_and_keeps_the_change():
    changed = domain.from_snapshot(None, BookingSnapshot(
        booking_id=uuid.uuid4(), customer_id=uuid.uuid4(), service="apk", starts_at=NOW + timedelta(days=9),
        ends_at=NOW + timedelta(days=9, hours=1), state="confirmed", version=2), "garage")
    created = BookingCreated(booking_id=changed.booking_id, customer=CustomerSnapshot(customer_id=changed.customer_id, name="Jan"),
                             service="apk", starts_at=NOW + timedelta(days=5), ends_at=NOW + timedelta(days=5, hours=1),
                             state="booked")
    merged = domain.from_created(changed, created, "garage", NOW)
    assert (merged.state, merged.starts_at, merged.version) == ("confirmed", changed.starts_at, 2)
    assert merged.created_known and merged.customer.name == "Jan"


def test_handling_items():
    now = NOW
    comment = domain.Item(uuid.uuid4(), uuid.uuid4(), "comment", comment_id=uuid.uuid4())
    with pytest.raises(domain.CannotHandle):
        domain.handle(comment, "handled", None, actor="staff:a", now=now)
    added = domain.handle(comment, "add-intervention", domain.Intervention("intervention", "Remmen"), actor="staff:a", now=now)
    assert (added.item.state, added.outcome, added.line.origin) == ("handled", "converted-to-intervention", "check-in-intervention")
    with pytest.raises(domain.CannotHandle):
        domain.handle(added.item, "drop-intervention", None, actor="staff:a", now=now)
    service = domain.Item(uuid.uuid4(), uuid.uuid4(), "accepted-service", service="wipers")
    converted = domain.handle(service, "add-intervention", domain.Intervention("wipers"), actor="staff:a", now=now)
    assert (converted.item.state, converted.line.origin) == ("converted", "check-in-optional-service")
    contact = domain.Item(uuid.uuid4(), uuid.uuid4(), "contact-request", service="interior")
    assert domain.handle(contact, "handled", None, actor="staff:a", now=now).item.state == "handled"
    with pytest.raises(domain.CannotHandle):
        domain.handle(contact, "add-intervention", domain.Intervention("interior"), actor="staff:a", now=now)


def test_marks_pin_until_every_item_is_handled_and_then_show_answered():
    assert domain.Marks(3, 1, True).pinned and not domain.Marks(3, 1, True).answered_mark
    assert domain.Marks(3, 0, True).answered_mark and not domain.Marks(3, 0, True).pinned
    assert not domain.Marks(0, 0, False).answered_mark


def test_bad_link_attempts_count_in_a_sliding_window():
    limit = domain.AttemptLimit(3, timedelta(minutes=10))
    attempts = [NOW - timedelta(minutes=20), NOW, NOW]
    assert limit.wait_seconds(attempts, NOW) == 0  # the first is out of the window
    assert limit.wait_seconds([*attempts, NOW], NOW) == 601
    assert limit.wait_seconds([*attempts, NOW], NOW + timedelta(minutes=10, seconds=1)) == 0


def test_the_day_is_the_tenants_day():
    start, end = domain.day_bounds(datetime(2027, 3, 28).date(), AMSTERDAM)  # 23 hours long
    assert (start.isoformat(), end - start) == ("2027-03-27T23:00:00+00:00", timedelta(hours=23))
