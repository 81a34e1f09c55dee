"""The envelope and the contracts: round trip, forward compatibility, keys, schemas."""
import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from bookflow_contracts import (
    BookingCreated,
    CancelTimersWithPrefix,
    CustomerSnapshot,
    Envelope,
    ReminderDue,
    SetTimer,
    decode,
    encode,
    message_types,
    topics,
)
from bookflow_contracts.envelope import UnknownMessageType
from bookflow_contracts.schemas import all_schemas, write

NOW = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)


def a_booking() -> BookingCreated:
    return BookingCreated(
        booking_id=uuid.uuid4(),
        customer=CustomerSnapshot(customer_id=uuid.uuid4(), name="Åsa Öberg", phone="+46701234567"),
        service="meter-replacement",
        starts_at=NOW + timedelta(days=14),
        ends_at=NOW + timedelta(days=14, hours=1),
        state="unconfirmed",
    )


def test_envelope_round_trips_through_kafka_bytes():
    event = a_booking()
    env = Envelope.wrap(event, tenant_id="acme", occurred_at=NOW, correlation_id="req-1")
    back, message = decode(encode(env))
    assert back == env
    assert message == event
    assert back.key == f"booking:{event.booking_id}"
    assert json.loads(encode(env))["payload"]["customer"]["name"] == "Åsa Öberg"


def test_a_version_1_consumer_reads_a_message_with_a_field_it_does_not_know():
    env = Envelope.wrap(a_booking(), tenant_id="acme", occurred_at=NOW)
    raw = json.loads(encode(env))
    raw["payload"]["loyalty_tier"] = "gold"  # added by a later producer
    raw["routing_hint"] = "eu-north"  # and a new envelope field
    back, message = decode(json.dumps(raw))
    assert message.booking_id == uuid.UUID(env.payload["booking_id"])
    assert not hasattr(message, "loyalty_tier")


def test_one_bookings_timer_commands_share_the_bookings_key():
    booking_id = uuid.uuid4()
    set_timer = SetTimer(timer_key=f"booking:{booking_id}:confirm-reminder", due_at=NOW)
    cancel_all = CancelTimersWithPrefix(prefix=f"booking:{booking_id}:")
    due = ReminderDue(timer_key=set_timer.timer_key, due_at=NOW, fired_at=NOW, lateness_ms=0)
    assert set_timer.ordering_key() == cancel_all.ordering_key() == due.ordering_key() == f"booking:{booking_id}"


def test_a_correlation_id_is_started_when_none_is_given_and_kept_when_given():
    fresh = Envelope.wrap(a_booking(), tenant_id="acme", occurred_at=NOW)
    assert fresh.correlation_id == str(fresh.event_id)
    caused = Envelope.wrap(a_booking(), tenant_id="acme", occurred_at=NOW, correlation_id="c-1", causation_id=str(fresh.event_id))
    assert (caused.correlation_id, caused.causation_id) == ("c-1", str(fresh.event_id))
    assert ("correlation-id", b"c-1") in caused.headers()


def test_naive_times_and_unknown_types_are_refused():
    with pytest.raises(ValidationError):
        SetTimer(timer_key="booking:1:x", due_at=datetime(2026, 1, 1))
    env = Envelope.wrap(a_booking(), tenant_id="acme", occurred_at=NOW).model_copy(update={"type": "booking.exploded"})
    with pytest.raises(UnknownMessageType):
        env.message()
    with pytest.raises(ValidationError):
        decode(b'{"not": "an envelope"}')


def test_every_message_type_has_a_schema_a_topic_and_described_fields(tmp_path):
    schemas = all_schemas()
    assert set(schemas) == {"envelope", *message_types()}
    for name, model in message_types().items():
        assert model.topic in topics.ALL, name
        for field_name, field in model.model_fields.items():
            assert field.description, f"{name}.{field_name} has no description"
    files = write(tmp_path)
    assert len(files) == len(schemas)
    assert json.loads((tmp_path / "booking.created.v2.json").read_text())["x-topic"] == "booking.created"


def test_the_four_fixed_topic_names():
    assert (topics.BOOKING_CREATED, topics.REPLY_RECEIVED, topics.REMINDER_DUE, topics.ORDER_TRANSITIONED) == (
        "booking.created", "reply.received", "reminder.due", "order.transitioned",
    )


def test_a_consumer_of_version_1_reads_a_version_2_booking_created():
    """Consumers written before version 2 keep working: new fields have defaults, unknown ones are ignored."""
    v1_payload = a_booking().model_dump(mode="json")
    for added in ("work_lines", "subject", "extra_info", "source", "source_ref", "rebooked_from", "booking_version"):
        v1_payload.pop(added)
    assert BookingCreated.model_validate(v1_payload).source == "staff"
    v2 = a_booking().model_copy(update={"extra_info": "Ring på dörren"}).model_dump(mode="json") | {"a_field_of_v3": 1}
    assert BookingCreated.model_validate(v2).extra_info == "Ring på dörren"


def test_every_topic_has_its_publishers_and_consumers_named():
    assert set(topics.PUBLISHED_BY) == set(topics.ALL) == set(topics.CONSUMED_BY)
    for name, model in message_types().items():
        assert topics.PUBLISHED_BY[model.topic], name


def test_a_withdrawal_is_keyed_like_the_requests_it_withdraws():
    from bookflow_contracts import SendNotification, WithdrawNotifications

    booking_id = uuid.uuid4()
    request = SendNotification(idempotency_key="k", customer=CustomerSnapshot(customer_id=uuid.uuid4()), channels=["sms"],
                               template_key="confirm-reminder", booking_id=booking_id, regarding_version=3)
    withdrawal = WithdrawNotifications(regarding=request.regarding, before_version=4, reason="confirmed", booking_id=booking_id)
    assert request.regarding == f"booking:{booking_id}"
    assert request.ordering_key() == withdrawal.ordering_key()
