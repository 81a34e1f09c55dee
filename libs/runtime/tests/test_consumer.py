"""Which records a consumer passes over unread, by their headers and key alone (no broker needed:
`tests/faults` holds every consumer to the same rules on the real one)."""
import uuid
from datetime import UTC, datetime

from aiokafka.structs import ConsumerRecord

from bookflow_contracts import Envelope, ReminderDue, WithdrawNotifications, encode, reminder_keys, topics
from bookflow_runtime.consumer import Consumer


async def _ignore(session, message, envelope) -> None:  # noqa: ANN001
    return None


def reminder(timer_key: str) -> ConsumerRecord:
    at = datetime.now(UTC)
    env = Envelope.wrap(ReminderDue(timer_key=timer_key, due_at=at, fired_at=at, lateness_ms=0), tenant_id="t", occurred_at=at)
    return record(env.key.encode(), encode(env), env.headers())


def record(key: bytes | None, value: bytes, headers: list[tuple[str, bytes]]) -> ConsumerRecord:
    return ConsumerRecord(topics.REMINDER_DUE, 0, 0, 0, 0, key, value, None, len(key or b""), len(value), headers)


RECALL = Consumer("timers", topics.REMINDER_DUE, {ReminderDue: _ignore}, keys=reminder_keys("recall", "book-again"))


def test_a_reminder_for_another_services_timer_is_passed_over_and_its_own_are_read():
    booking_id = uuid.uuid4()
    assert RECALL.passes_over(reminder(f"booking:{booking_id}:reminder"))
    assert RECALL.passes_over(reminder(f"checkin:{booking_id}:link"))
    assert not RECALL.passes_over(reminder(f"recall:{uuid.uuid4()}:step-1"))
    assert not RECALL.passes_over(reminder(f"book-again:{uuid.uuid4()}"))


def test_a_record_without_an_event_type_is_read_whatever_its_key_so_junk_is_dead_lettered_not_dropped():
    assert not RECALL.passes_over(record(b"booking:1", b"\xff not json", []))
    assert not RECALL.passes_over(record(None, b"{}", [("poison-id", b"1")]))


def test_a_type_the_consumer_does_not_handle_is_passed_over_and_without_keys_every_key_is_read():
    everyone = Consumer("timers", topics.REMINDER_DUE, {ReminderDue: _ignore})
    assert not everyone.passes_over(reminder(f"booking:{uuid.uuid4()}:reminder"))
    other_type = record(b"recall:1", b"{}", [("event-type", b"booking.created")])
    assert RECALL.passes_over(other_type) and everyone.passes_over(other_type)


def test_a_type_a_consumer_follows_is_read_but_left_to_the_topic_s_other_consumer_to_report():
    requests = Consumer("requests", topics.NOTIFICATION_REQUESTS, {ReminderDue: _ignore}, follows={WithdrawNotifications: _ignore})
    assert requests.handler_for(WithdrawNotifications.message_type) == (_ignore, False)
    assert not requests.passes_over(record(b"booking:1", b"{}", [("event-type", WithdrawNotifications.message_type.encode())]))
    assert not requests.reports(WithdrawNotifications.message_type) and requests.reports(ReminderDue.message_type)
