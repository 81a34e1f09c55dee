"""Book-again's rules without I/O (D1, D4)."""
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from bookflow_recall.domain import book_again as rules

SET = datetime(2027, 3, 3, 12, 0, tzinfo=UTC)


def customer(**kw) -> rules.Customer:
    values = {"customer_id": uuid.uuid4(), "name": "Saga", "phone": "+46701234567", "marketing_consent": True,
              "consent_changed_at": SET - timedelta(days=30), "contact_changed_at": None}
    return rules.Customer(**(values | kw))


def reminder(**kw) -> rules.Reminder:
    values = {"id": uuid.uuid4(), "tenant_id": "t", "customer_id": uuid.uuid4(), "booking_id": uuid.uuid4(), "service": "klippning",
              "after": 2, "unit": "weeks", "set_at": SET, "due_at": SET + timedelta(weeks=2), "state": "scheduled"}
    return rules.Reminder(**(values | kw))


@pytest.mark.parametrize(("consent", "code"), [(None, "no-marketing-consent"), (False, "no-marketing-consent")])
def test_only_customers_who_consented_may_get_a_reminder(consent, code):
    with pytest.raises(rules.NotAllowed) as refused:
        rules.may_set(customer(marketing_consent=consent), "completed")
    assert refused.value.code == code
    with pytest.raises(rules.NotAllowed):
        rules.may_set(None, "completed")


def test_past_and_future_bookings_may_carry_a_reminder_deleted_ones_not():
    for state in ("completed", "booked", "confirmed", "no-show", "cancelled"):
        rules.may_set(customer(), state)
    with pytest.raises(rules.NotAllowed) as refused:
        rules.may_set(customer(), "deleted")
    assert refused.value.code == "booking-deleted"


def test_at_the_send_every_reason_to_stop_is_checked_again():
    r = reminder()
    assert rules.reason_to_stop(r, customer(), "completed", None) is None
    assert rules.reason_to_stop(r, customer(), "deleted", None) == rules.BOOKING_DELETED
    assert rules.reason_to_stop(r, customer(), "completed", SET + timedelta(days=1)) == rules.BOOKED_FIRST
    assert rules.reason_to_stop(r, customer(marketing_consent=False), "completed", None) == rules.CONSENT_WITHDRAWN
    assert rules.reason_to_stop(r, customer(contact_changed_at=SET + timedelta(seconds=1)), "completed", None) == rules.CONTACT_CHANGED
    assert rules.reason_to_stop(r, customer(contact_changed_at=SET - timedelta(seconds=1)), "completed", None) is None
    assert rules.reason_to_stop(r, customer(phone=None), "completed", None) == rules.NO_MOBILE


def test_only_changes_and_bookings_after_the_reminder_was_set_stop_it():
    r = reminder()
    assert rules.contact_change_stops(r, {"phone"}, SET + timedelta(seconds=1))
    assert not rules.contact_change_stops(r, {"phone"}, SET - timedelta(seconds=1))
    assert not rules.contact_change_stops(r, {"language", "preferred_channel"}, SET + timedelta(seconds=1))
    assert rules.booking_stops(r, SET + timedelta(minutes=1), uuid.uuid4())
    assert not rules.booking_stops(r, SET - timedelta(minutes=1), uuid.uuid4())
    assert not rules.booking_stops(reminder(state="sent"), SET + timedelta(minutes=1), uuid.uuid4())


def test_a_sent_reminder_is_withdrawn_only_while_its_sms_waits_and_never_for_its_own_link():
    sent = reminder(state="sent", sent_at=SET + timedelta(weeks=2), delivery_status="queued")
    assert rules.booking_withdraws(sent, SET + timedelta(days=13), None)
    assert not rules.booking_withdraws(sent, SET + timedelta(days=14, minutes=5), str(sent.id))
    assert not rules.booking_withdraws(reminder(state="sent", delivery_status="delivered"), SET + timedelta(days=1), None)
