"""Booking rules without I/O."""
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from bookflow_booking.domain import Customer, InvalidBooking, new_booking, notice, reminder_timer
from bookflow_contracts import Address

START = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
PLACE = Address(street="Storgatan 1", postcode="111 22", city="Stockholm")


def customer(**kw) -> Customer:
    return Customer(uuid.uuid4(), "Åsa", kw.get("phone"), kw.get("email"), "sv")


def test_a_new_booking_is_unconfirmed_and_must_end_after_it_starts():
    booking = new_booking(customer(phone="+46701234567"), "mätarbyte", START, START + timedelta(hours=1), PLACE)
    assert booking.state == "unconfirmed"
    with pytest.raises(InvalidBooking, match="end after it starts"):
        new_booking(customer(phone="+46701234567"), "mätarbyte", START, START, PLACE)


def test_a_customer_who_cannot_be_reached_cannot_be_booked():
    with pytest.raises(InvalidBooking, match="phone number, an e-mail address or a postal address"):
        new_booking(customer(), "mätarbyte", START, START + timedelta(hours=1), None)


def test_the_notice_goes_by_sms_then_e_mail_then_letter_and_is_sent_once_per_booking():
    booking = new_booking(customer(email="asa@example.se"), "mätarbyte", START, START + timedelta(hours=1), PLACE)
    request = notice(booking)
    assert request.channels == ["email", "letter"]
    assert request.idempotency_key == f"booking:{booking.id}:notice"
    assert reminder_timer(booking, START).timer_key == f"booking:{booking.id}:reminder"
