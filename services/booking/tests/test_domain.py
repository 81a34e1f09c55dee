"""Booking rules without I/O: the state machine, time in the tenant's zone, replies, codes."""
import uuid
from dataclasses import replace
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from bookflow_booking import domain
from bookflow_booking.domain import Customer, InvalidBooking, Tenant, new_booking
from bookflow_contracts import Address, CancelTimersWithPrefix, SendNotification, SetTimer
from bookflow_contracts.templates import TEMPLATES

START = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
PLACE = Address(street="Storgatan 1", postcode="111 22", city="Stockholm")
STOCKHOLM = ZoneInfo("Europe/Stockholm")
NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def customer(**kw) -> Customer:
    return Customer(uuid.uuid4(), kw.get("name", "Åsa"), kw.get("phone"), kw.get("email"), "sv")


def booking(flow: str = "confirmation", **kw) -> domain.Booking:
    return new_booking(Tenant("t", flow=flow), customer(phone="+46701234567"), "mätarbyte", START,
                       START + timedelta(hours=1), kw.pop("place", PLACE), now=NOW, **kw)


def test_a_new_booking_starts_in_its_tenants_flow_and_must_end_after_it_starts():
    assert booking("confirmation").state == "unconfirmed"
    assert booking("letter").state == "planned"
    assert booking("none").state == "booked"
    with pytest.raises(InvalidBooking, match="end after it starts"):
        new_booking(Tenant("t"), customer(phone="+46701234567"), "mätarbyte", START, START, PLACE, now=NOW)


def test_a_customer_who_cannot_be_reached_cannot_be_booked():
    with pytest.raises(InvalidBooking, match="phone number, an e-mail address or a postal address"):
        new_booking(Tenant("t"), customer(), "mätarbyte", START, START + timedelta(hours=1), None, now=NOW)


@pytest.mark.parametrize(("state", "transition", "target"), [
    ("unconfirmed", "confirm", "confirmed"), ("unconfirmed", "release", "cancelled"), ("confirmed", "rebook", "cancelled"),
    ("planned", "lock", "ready-for-print"), ("ready-for-print", "print-letter", "awaiting-response"),
    ("awaiting-response", "accept-reply", "ready-for-execution"), ("awaiting-response", "no-answer", "manual-follow-up"),
    ("awaiting-response", "follow-up-manually", "manual-follow-up"), ("manual-follow-up", "send-to-execution", "ready-for-execution"),
    ("manual-follow-up", "confirm-by-sms", "ready-for-execution"), ("manual-follow-up", "put-on-hold", "on-hold"),
    ("on-hold", "reschedule", "manual-follow-up"), ("manual-follow-up", "reschedule", "manual-follow-up"),
    ("confirmed", "reschedule", "unconfirmed"),
])
def test_the_state_machine_moves_bookings_along_their_flow(state, transition, target):
    assert domain.next_state(state, transition) == target


@pytest.mark.parametrize(("state", "transition"), [
    ("confirmed", "confirm"), ("cancelled", "confirm"), ("confirmed", "release"), ("cancelled", "cancel"),
    ("ready-for-print", "lock"), ("planned", "print-letter"), ("ready-for-execution", "no-answer"),
    ("ready-for-execution", "follow-up-manually"), ("awaiting-response", "send-to-execution"), ("on-hold", "put-on-hold"),
])
def test_a_transition_from_the_wrong_state_is_refused_with_the_reason(state, transition):
    with pytest.raises(domain.TransitionNotAllowed, match=f"cannot {transition} a booking that is {state}"):
        domain.next_state(state, transition)


def test_ten_days_before_is_counted_on_the_tenants_wall_clock_across_daylight_saving():
    visit = datetime(2026, 3, 30, 9, 0, tzinfo=STOCKHOLM)  # summer time began on 29 March
    reminder = domain.shift(visit, -timedelta(days=10), STOCKHOLM)
    assert reminder.astimezone(STOCKHOLM) == datetime(2026, 3, 20, 9, 0, tzinfo=STOCKHOLM)
    assert visit - reminder == timedelta(days=10, hours=-1)  # one hour fewer elapsed: the clocks moved
    autumn = domain.shift(datetime(2026, 11, 2, 9, 0, tzinfo=STOCKHOLM), -timedelta(days=10), STOCKHOLM)
    assert autumn.astimezone(STOCKHOLM) == datetime(2026, 10, 23, 9, 0, tzinfo=STOCKHOLM)
    assert domain.shift(visit, -timedelta(seconds=30), STOCKHOLM) == visit - timedelta(seconds=30)


def test_the_day_before_at_18_is_local_time_on_the_day_before_also_when_the_clocks_change():
    visit = datetime(2026, 3, 29, 10, 0, tzinfo=STOCKHOLM)  # the morning summer time begins
    due = domain.day_before_at(visit, time(18, 0), STOCKHOLM)
    assert due == datetime(2026, 3, 28, 17, 0, tzinfo=UTC)
    oslo = ZoneInfo("Europe/Oslo")
    due = domain.day_before_at(datetime(2026, 10, 26, 8, 0, tzinfo=oslo), time(18, 0), oslo)
    assert due == datetime(2026, 10, 25, 17, 0, tzinfo=UTC)  # winter time again on the 25th


@pytest.mark.parametrize(("text", "code", "transition"), [
    ("ABCD2345 OK", "ABCD2345", "accept-reply"), ("abcd2345 ok ", "ABCD2345", "accept-reply"),
    ("ABCD2345   Ok", "ABCD2345", "accept-reply"), ("ABCD2345 KONTAKT", "ABCD2345", "reply-needs-follow-up"),
    ("ABCD2345 Ok!!", "ABCD2345", "reply-needs-follow-up"), ("ABCD2345 Det er greit", "ABCD2345", "reply-needs-follow-up"),
    ("ABCD2345", "ABCD2345", "reply-needs-follow-up"),
    # the reply word of each language's letter (notification's default templates) needs a person
    ("ABCD2345 CONTACT", "ABCD2345", "reply-needs-follow-up"), ("ABCD2345 CALL", "ABCD2345", "reply-needs-follow-up"),
])
def test_only_exactly_ok_accepts_a_reply(text, code, transition):
    reply = domain.parse_reply(text)
    assert reply.code == code
    assert domain.reply_transition(reply.answer) == transition
    assert domain.parse_reply("   ") is None


def test_booking_codes_are_long_unambiguous_and_differ():
    codes = {domain.new_booking_code() for _ in range(1000)}
    assert len(codes) == 1000
    assert all(len(c) == 8 and not set(c) & set("01OI") for c in codes)


def test_an_order_lacking_what_a_letter_needs_says_what_is_missing():
    order = booking("letter", place=Address(city="Bergen"), technician_id=None)
    assert domain.missing_for_letter(order) == ["street address", "postcode", "technician"]
    assert domain.missing_for_letter(booking("letter", technician_id=uuid.uuid4())) == []


def test_every_step_cancels_the_old_timers_first_and_asks_for_what_the_new_state_needs():
    tenant = Tenant("t", flow="confirmation")
    b = booking()
    created = domain.on_entry(b, tenant, "create", NOW, "https://x/my/abc")
    notice, reminder = created
    assert isinstance(notice, SendNotification) and notice.template_key == "booking-notice"
    assert set(notice.data) == set(TEMPLATES["booking-notice"].placeholders)
    assert notice.data["my_pages_url"] == "https://x/my/abc" and notice.channels[0] == "letter"
    assert isinstance(reminder, SetTimer) and reminder.due_at == domain.shift(START, -timedelta(days=10), STOCKHOLM)
    confirmed = domain.step(b, tenant, "confirm", actor="customer", reason=None, now=NOW, my_pages_url="")
    assert confirmed.booking.state == "confirmed" and confirmed.booking.version == 1
    cancel, withdraw = confirmed.messages
    assert cancel == CancelTimersWithPrefix(prefix=f"booking:{b.id}:")
    assert (withdraw.regarding, withdraw.before_version, withdraw.booking_id) == (f"booking:{b.id}", 1, b.id)
    assert (confirmed.transition.from_state, confirmed.transition.to_state, confirmed.transition.actor) == ("unconfirmed", "confirmed", "customer")


def test_a_fired_timer_counts_only_if_nothing_changed_since_it_was_set():
    b = booking()
    [_, reminder] = domain.on_entry(b, Tenant("t", flow="confirmation"), "create", NOW, "")
    assert domain.still_meant(b, reminder.payload)
    after = domain.step(b, Tenant("t"), "confirm", actor="customer", reason=None, now=NOW, my_pages_url="").booking
    assert not domain.still_meant(after, reminder.payload)


def test_each_request_fills_exactly_its_templates_placeholders():
    tenant = Tenant("t", flow="letter", reply_number="+4759440000")
    order = replace(booking("letter", technician_id=uuid.uuid4()), state="ready-for-print", booking_code="ABCD2345")
    asked = domain.step(order, tenant, "print-letter", actor="p", reason=None, now=NOW, my_pages_url="").messages
    letters = [m for m in asked if isinstance(m, SendNotification)]
    for m in letters + domain.reminder_due(booking(), tenant, "confirm-reminder", NOW, "u")[:1] + [domain.appointment_reminder(order, tenant)]:
        assert set(m.data) == set(TEMPLATES[m.template_key].placeholders), m.template_key
    assert letters[0].channels == ["letter"] and letters[0].data["booking_code"] == "ABCD2345"



def test_every_state_the_machine_reaches_is_named_in_the_contracts():
    reached = {target for t in domain.TRANSITIONS.values() for target in t.moves.values()} | set(domain.FIRST_STATE.values())
    assert reached <= set(domain.STATES) and {domain.UNCONFIRMED, domain.MANUAL_FOLLOW_UP} <= set(domain.STATES)


def test_a_business_tells_customers_how_to_reach_it_through_tenant_updated():
    tenant = Tenant("t", name="Pinea", phone="08-123 45 67", email="kund@pinea.se", website="pinea.se")
    settings = tenant.updated_event().settings
    assert (settings["phone"], settings["email"], settings["website"]) == ("08-123 45 67", "kund@pinea.se", "pinea.se")


def test_a_booking_gets_a_short_typeable_link_code_and_typed_variants_find_it():
    customer = Customer(uuid.uuid4(), "Åsa Öberg", "+46701234567", None, "sv")
    start = datetime(2027, 1, 12, 7, 0, tzinfo=UTC)
    booking = new_booking(Tenant("t"), customer, "mätarbyte", start, start + timedelta(hours=1), None, now=start - timedelta(days=30))
    other = new_booking(Tenant("t"), customer, "mätarbyte", start, start + timedelta(hours=1), None, now=start - timedelta(days=30))
    assert len(booking.short_code) == 12 and booking.short_code != other.short_code
    short = domain.short_link("https://boka.pinea.se/my/eyJ0Ijoi.signed", booking)
    printed = domain.short_code_text(booking.short_code)
    assert short == f"https://boka.pinea.se/l/{printed}" and len(printed) == 14
    for typed in (printed, printed.lower(), printed.replace("-", " ")):
        assert domain.short_code_of(typed) == booking.short_code
    assert domain.short_code_of("K7Q2-MX9P-AB30") is None  # 0 is not in the alphabet: no code has it
    assert domain.short_link("https://boka.pinea.se/my/x", replace(booking, short_code=None)) is None


def test_the_confirm_reminder_says_when_the_booking_is_otherwise_cancelled():
    customer = Customer(uuid.uuid4(), "Åsa Öberg", "+46701234567", None, "sv")
    tenant = Tenant("t", flow="confirmation", release_after_reminder=timedelta(days=3))
    start = datetime(2027, 3, 30, 7, 0, tzinfo=UTC)
    booking = new_booking(tenant, customer, "mätarbyte", start, start + timedelta(hours=1), None, now=start - timedelta(days=30))
    due = datetime(2027, 3, 20, 8, 0, tzinfo=UTC)
    reminder, release = domain.reminder_due(booking, tenant, "confirm-reminder", due, "https://x.test/my/t")
    assert isinstance(reminder, SendNotification) and isinstance(release, SetTimer)
    assert datetime.fromisoformat(reminder.data["cancel_at"]) == release.due_at == datetime(2027, 3, 23, 8, 0, tzinfo=UTC)
    assert set(reminder.data) <= set(TEMPLATES["confirm-reminder"].placeholders)


def test_each_request_names_its_booking_version_and_is_valid_only_while_it_can_serve_its_purpose():
    tenant = Tenant("t", flow="confirmation", release_after_reminder=timedelta(days=3), letter_response_time=timedelta(days=7))
    b = booking()
    notice, _ = domain.on_entry(b, tenant, "create", NOW, "u")
    assert (notice.regarding, notice.regarding_version, notice.valid_until) == (f"booking:{b.id}", 0, START)
    reminder_due = START - timedelta(days=10)
    reminder, release = domain.reminder_due(b, tenant, "confirm-reminder", reminder_due, "u")
    assert reminder.valid_until == release.due_at == domain.shift(reminder_due, timedelta(days=3), STOCKHOLM)

    order = replace(booking("letter", technician_id=uuid.uuid4()), state="ready-for-print", booking_code="ABCD2345", version=1)
    letter = next(m for m in domain.step(order, tenant, "print-letter", actor="p", reason=None, now=NOW, my_pages_url="").messages
                  if isinstance(m, SendNotification))
    assert (letter.regarding_version, letter.valid_until) == (2, NOW + timedelta(days=7))  # reply by the deadline, then a person calls
    soon = replace(order, starts_at=NOW + timedelta(days=2), ends_at=NOW + timedelta(days=2, hours=1))
    letter = domain.step(soon, tenant, "print-letter", actor="p", reason=None, now=NOW, my_pages_url="").messages[2]
    assert letter.valid_until == soon.starts_at  # never after the visit itself
    assert domain.appointment_reminder(order, tenant).valid_until == START


def test_a_booking_must_start_in_the_future_unless_staff_record_a_visit_that_took_place():
    tenant, person = Tenant("t", flow="confirmation"), customer(phone="+46701234567")
    with pytest.raises(InvalidBooking, match="starts in the past.*record_only"):
        new_booking(tenant, person, "mätarbyte", NOW - timedelta(days=240), NOW - timedelta(days=240, hours=-1), PLACE, now=NOW)
    visit = new_booking(tenant, person, "mätarbyte", NOW - timedelta(days=240), NOW - timedelta(days=240, hours=-1), PLACE,
                        now=NOW, record_only=True)
    assert visit.state == "completed" and domain.on_entry(visit, tenant, "create", NOW, "u") == []
    with pytest.raises(InvalidBooking, match="already took place"):
        new_booking(tenant, person, "mätarbyte", START, START + timedelta(hours=1), PLACE, now=NOW, record_only=True)


def test_a_right_code_from_another_number_needs_a_person_whatever_it_says():
    order = booking("letter")
    reply = domain.parse_reply("ABCD2345 OK")
    assert domain.reply_move(order, reply, "sms", "+46701234567") == ("accept-reply", "replied 'OK'")
    assert domain.reply_move(order, reply, "sms", "+46709999999")[0] == "reply-needs-follow-up"
    assert domain.reply_move(order, reply, "email", "someone@example.se")[0] == "reply-needs-follow-up"


def test_tenant_durations_are_published_as_iso_8601():
    settings = Tenant("t", reminder_before=timedelta(days=10), sms_response_time=timedelta(seconds=30),
                      letter_response_time=timedelta(days=1, hours=2)).updated_event().settings
    assert (settings["reminder_before"], settings["sms_response_time"], settings["letter_response_time"]) == ("P10D", "PT30S", "P1DT2H")


# --- issue 12: customers, channels, the lifecycle, the technician's day --------------------------


def test_the_preferred_channel_goes_first_then_the_templates_other_channels_that_reach_the_customer():
    reachable = replace(customer(phone="+46701234567", email="asa@example.se"), preferred_channel="email")
    tenant = Tenant("t")
    assert domain.channel_order(reachable, PLACE, tenant, ("letter", "sms", "email")) == ["email", "letter", "sms"]
    assert domain.channel_order(reachable, None, tenant, ("letter", "sms", "email")) == ["email", "sms"]  # no postal address
    assert domain.channel_order(reachable, PLACE, tenant, ("sms",)) == ["sms"]  # a one-channel template keeps its channel
    assert domain.channel_order(reachable, PLACE, Tenant("t", channels=("sms", "letter")), ("sms", "email")) == ["sms"]
    nobody = customer()
    assert domain.channel_order(nobody, None, tenant, ("sms", "email")) == ["sms", "email"]  # nothing reaches: the order stays


def test_phone_numbers_are_stored_in_e164_read_in_the_tenants_country():
    assert domain.e164("070-123 45 67", "Europe/Stockholm") == "+46701234567"
    assert domain.e164("912 34 567", "Europe/Oslo") == "+4791234567"
    assert domain.e164("+45 20 12 34 56", "Etc/GMT-1") == "+4520123456"
    assert domain.e164(" ", "Europe/Stockholm") is None
    with pytest.raises(domain.InvalidCustomer, match="country code"):
        domain.e164("0701234567", "Etc/GMT-1")
    with pytest.raises(domain.InvalidCustomer, match="not a valid phone number"):
        domain.e164("+46 12", "Europe/Stockholm")


def test_customer_changes_name_the_fields_and_consent_keeps_when_and_how():
    before = customer(phone="+46701234567")
    after = replace(before, phone="+46709876543", preferred_channel="sms")
    assert domain.changed_fields(before, after) == ["phone", "preferred_channel"]
    given = domain.with_consent(before, True, "staff", NOW)
    assert (given.marketing_consent, given.consent_changed_at, given.consent_source) == (True, NOW, "staff")
    assert domain.with_consent(given, True, "check-in", NOW + timedelta(days=1)) is given  # already given: unchanged
    assert domain.changed_fields(before, given) == ["marketing_consent"]
    event = domain.customer_updated(given, ["marketing_consent"], actor="staff:ola")
    assert (event.marketing_consent, event.consent_source, event.customer.customer_id) == (True, "staff", before.id)


@pytest.mark.parametrize("state", ["unconfirmed", "confirmed", "booked", "planned", "ready-for-execution", "manual-follow-up", "on-hold"])
def test_a_live_booking_can_be_completed_marked_no_show_cancelled_or_deleted(state):
    assert domain.next_state(state, "complete") == "completed"
    assert domain.next_state(state, "no-show") == "no-show"
    assert domain.next_state(state, "cancel") == "cancelled"
    assert domain.next_state(state, "delete") == "deleted"


@pytest.mark.parametrize("state", ["cancelled", "completed", "no-show"])
def test_an_ended_booking_moves_only_to_deleted(state):
    for name in ("complete", "no-show", "cancel", "confirm", "reschedule"):
        with pytest.raises(domain.TransitionNotAllowed):
            domain.next_state(state, name)
    assert domain.next_state(state, "delete") == "deleted"
    with pytest.raises(domain.TransitionNotAllowed):
        domain.next_state("deleted", "delete")


def test_every_step_carries_the_booking_after_it():
    b = booking("confirmation")
    moved = START + timedelta(days=3)
    step = domain.step(b, Tenant("t", flow="confirmation"), "reschedule", actor="staff:x", reason=None, now=NOW,
                       my_pages_url="http://x/my/t", starts_at=moved, ends_at=moved + timedelta(hours=1))
    assert (step.transition.booking.starts_at, step.transition.booking.version, step.transition.booking.customer_id) == (
        moved, 1, b.customer.id)
    done = domain.step(step.booking, Tenant("t", flow="confirmation"), "complete", actor="staff:x", reason="done", now=NOW,
                       my_pages_url="http://x/my/t")
    assert done.transition.booking.state == "completed"
    assert [type(m).__name__ for m in done.messages] == ["CancelTimersWithPrefix", "WithdrawNotifications"]  # nothing more to send


def test_an_order_placed_in_the_day_moves_the_ones_it_collides_with_down_and_a_gap_absorbs_the_shift():
    a, b, c, d = (uuid.uuid4() for _ in range(4))
    assert domain.make_room([(a, 1), (b, 2), (c, 3), (d, 7)], 2) == {b: 3, c: 4}
    assert domain.make_room([(a, 1), (b, 3)], 2) == {}  # the place is free
    assert domain.make_room([(a, 2), (b, 2)], 2) == {a: 3, b: 4}  # two with one place both move
    assert domain.make_room([], 0) == {}
