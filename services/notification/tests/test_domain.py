"""The notification rules without I/O: channel choice, opt-out words, consent, quiet hours,
retries and failover, delivery reports, cost; and templates."""
import uuid
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from bookflow_contracts import Address, CustomerSnapshot
from bookflow_contracts.templates import TEMPLATES
from bookflow_notification import domain, templating
from bookflow_notification.default_templates import DEFAULTS, LANGUAGES

STOCKHOLM = ZoneInfo("Europe/Stockholm")


def customer(**kw) -> CustomerSnapshot:
    return CustomerSnapshot(customer_id=uuid.uuid4(), name="Jan", **kw)


def route(channels, start=0, *, marketing=False, consent=None, opted_out=False, **kw):
    return domain.choose_route(customer(**kw), channels, start, marketing=marketing, consent=consent, sms_opted_out=opted_out)


def test_the_first_channel_the_customer_can_be_reached_by_is_chosen():
    assert route(["sms", "email"], email="jan@example.nl") == domain.Route(1, "email", "jan@example.nl")
    assert route(["sms", "email"], phone="+31612345678", email="jan@example.nl") == domain.Route(0, "sms", "+31612345678")
    letter = route(["letter"], address=Address(street="Kerkstraat 1", postcode="1017 GC", city="Amsterdam"))
    assert letter == domain.Route(0, "letter", "Jan, Kerkstraat 1, 1017 GC Amsterdam")
    assert route(["sms"], email="jan@example.nl").status == "failed"
    assert route(["sms", "email"], 1, phone="+31612345678", email="jan@example.nl").channel == "email"  # falling back


@pytest.mark.parametrize(("raw", "region", "number"), [
    ("070-123 45 67", "SE", "+46701234567"), ("+46 70 123 45 67", None, "+46701234567"), ("0046701234567", "SE", "+46701234567"),
    ("06-12345678", "NL", "+31612345678"), ("412 34 567", "NO", "+4741234567"), ("20 12 34 56", "DK", "+4520123456"),
])
def test_phone_numbers_are_sent_to_in_e164_whatever_way_the_customer_wrote_them(raw, region, number):
    assert domain.sms_number(raw, region) == (number, None)


@pytest.mark.parametrize(("raw", "region", "why"), [
    ("+46 8 123 456 78", None, "is a landline, which cannot receive SMS"), ("12345", "SE", "is not a valid phone number"),
    ("070-123 45 67", None, "not a phone number"), ("ring mig", "SE", "is not a phone number"),
])
def test_numbers_an_sms_cannot_reach_are_refused_with_the_reason(raw, region, why):
    number, reason = domain.sms_number(raw, region)
    assert number is None and why in reason


def test_an_unreachable_number_falls_back_to_the_next_channel_and_says_why_when_none_is_left():
    assert route(["sms", "email"], phone="08-123 456 78", email="a@b.se").channel == "email"
    failed = route(["sms"], phone="+46 8 123 456 78")
    assert failed.status == "failed" and "landline" in failed.reason
    assert domain.phone_region(None, "Europe/Oslo") == "NO" and domain.phone_region("DK", "Europe/Oslo") == "DK"


def test_a_customer_who_answered_stop_gets_no_sms_but_other_channels_still_work():
    assert route(["sms"], phone="+46701234567", opted_out=True) == domain.Withheld("suppressed", "the customer answered STOP to SMS from this tenant")
    assert route(["sms", "email"], phone="+46701234567", email="a@b.se", opted_out=True).channel == "email"


def test_marketing_goes_only_to_customers_who_consented():
    assert route(["sms"], marketing=True, consent=None, phone="+46701234567").status == "suppressed"
    assert route(["sms"], marketing=True, consent=False, phone="+46701234567").status == "suppressed"
    assert route(["sms"], marketing=True, consent=True, phone="+46701234567").channel == "sms"
    assert route(["sms"], marketing=False, consent=False, phone="+46701234567").channel == "sms"  # service messages need none


@pytest.mark.parametrize("text", ["STOP", "stop", " Stopp ", "STOPP!", "unsubscribe", "Avsluta", "afmeld", "STOP ALL"])
def test_stop_and_its_synonyms_opt_out(text):
    assert domain.opt_out_intent(text) == "stop"


@pytest.mark.parametrize("text", ["OK", "ABC123 OK", "KONTAKT", "ABC123 KONTAKT", "CANCEL", "Avbryt", "ABC123 STOP", "stop sending me the letter please", "Nej"])
def test_booking_answers_and_cancel_are_never_an_opt_out(text):
    assert domain.opt_out_intent(text) is None


def test_start_opts_back_in():
    assert domain.opt_out_intent("start") == "start"


def quiet(local: datetime, start=time(21), end=time(8)):
    return domain.quiet_until(local.replace(tzinfo=STOCKHOLM).astimezone(UTC), "Europe/Stockholm", start, end)


def test_sms_in_the_evening_waits_until_eight_the_next_morning_local_time():
    assert quiet(datetime(2031, 1, 14, 23, 0)) == datetime(2031, 1, 15, 8, 0, tzinfo=STOCKHOLM)
    assert quiet(datetime(2031, 1, 14, 21, 0)) == datetime(2031, 1, 15, 8, 0, tzinfo=STOCKHOLM)
    assert quiet(datetime(2031, 1, 15, 3, 0)) == datetime(2031, 1, 15, 8, 0, tzinfo=STOCKHOLM)
    assert quiet(datetime(2031, 1, 15, 8, 0)) is None
    assert quiet(datetime(2031, 1, 15, 20, 59)) is None


def test_quiet_hours_follow_daylight_saving_and_may_lie_within_one_day():
    # the night the clocks go forward in Sweden (30 March 2031): 08:00 is still 08:00 local
    assert quiet(datetime(2031, 3, 29, 22, 0)) == datetime(2031, 3, 30, 8, 0, tzinfo=STOCKHOLM)
    assert quiet(datetime(2031, 1, 15, 12, 30), time(12), time(13)) == datetime(2031, 1, 15, 13, 0, tzinfo=STOCKHOLM)
    assert quiet(datetime(2031, 1, 15, 13, 30), time(12), time(13)) is None
    assert quiet(datetime(2031, 1, 15, 23, 0), time(0), time(0)) is None  # equal ends: no quiet hours


NOW = datetime(2031, 1, 15, 10, 0, tzinfo=UTC)
POLICY = domain.RetryPolicy(attempts_per_provider=3, first_backoff_seconds=2, max_backoff_seconds=600)
LATER = NOW + timedelta(hours=24)


def failed(attempts, failures, provider_index, provider_count=2, retryable=True, until=LATER, policy=POLICY):
    return domain.after_failure(attempts=attempts, failures=failures, provider_index=provider_index, provider_count=provider_count,
                                retryable=retryable, policy=policy, now=NOW, retry_until=until)


def test_a_transient_provider_error_is_retried_with_growing_backoff_then_the_next_provider_takes_over():
    assert failed(1, 1, 0) == domain.RetryLater(NOW + timedelta(seconds=2), 1, 0)
    assert failed(2, 2, 0) == domain.RetryLater(NOW + timedelta(seconds=4), 2, 0)
    assert failed(3, 3, 0) == domain.NextProvider(1)
    assert failed(1, 4, 1) == domain.RetryLater(NOW + timedelta(seconds=16), 1, 1)


def test_when_every_provider_is_down_the_first_is_tried_again_later_with_a_pause_that_grows_to_a_cap():
    assert failed(3, 6, 1) == domain.RetryLater(NOW + timedelta(seconds=64), 0, 0)
    assert failed(3, 30, 1) == domain.RetryLater(NOW + timedelta(seconds=600), 0, 0)  # capped
    assert failed(3, 10_000, 1) == domain.RetryLater(NOW + timedelta(seconds=600), 0, 0)  # no overflow


def test_retrying_stops_when_the_message_can_no_longer_serve_its_purpose_and_says_why():
    gave_up = failed(3, 6, 1, until=NOW + timedelta(seconds=30))
    assert isinstance(gave_up, domain.ChannelFailed)
    assert gave_up.gave_up.startswith("gave up after 6 failed attempts: no retry is left before 2031-01-15T10:00:30+00:00")
    assert failed(1, 1, 0, until=NOW + timedelta(seconds=1)) == domain.NextProvider(1)  # no time to wait: the next one now


def test_the_retry_deadline_is_the_message_s_valid_until_else_a_day_or_the_configured_window():
    valid_until = NOW + timedelta(hours=3)
    assert POLICY.deadline(NOW, valid_until) == valid_until
    assert POLICY.deadline(NOW, None) == NOW + timedelta(hours=24)
    windowed = domain.RetryPolicy(window=timedelta(hours=1))
    assert windowed.deadline(NOW, valid_until) == NOW + timedelta(hours=1)
    assert windowed.deadline(NOW, NOW + timedelta(minutes=5)) == NOW + timedelta(minutes=5)


def test_a_refusal_goes_to_the_next_provider_at_once_and_fails_the_channel_at_the_last():
    assert failed(1, 1, 0, retryable=False) == domain.NextProvider(1)
    assert failed(1, 1, 0, provider_count=1, retryable=False) == domain.ChannelFailed()


def test_an_sms_longer_than_the_limit_is_refused_with_the_reason():
    assert domain.sms_too_long(10, 10) is None
    assert domain.sms_too_long(9806, 10) == "the SMS text takes 9806 segments, more than the 10 an SMS may take"


def test_a_request_that_arrives_after_its_withdrawal_is_withdrawn_on_arrival():
    remembered = domain.Withdrawals(before_version=4, everything_before=None, last_at=NOW, reason="the booking was confirmed")
    assert domain.withdrawn_on_arrival(remembered, 3, NOW - timedelta(seconds=5))
    assert not domain.withdrawn_on_arrival(remembered, 4, NOW - timedelta(seconds=5))  # asked for the version after it
    assert domain.withdrawn_on_arrival(remembered, None, NOW - timedelta(seconds=5))  # no version: by time
    assert not domain.withdrawn_on_arrival(remembered, None, NOW + timedelta(seconds=5))
    everything = domain.Withdrawals(before_version=None, everything_before=NOW, last_at=NOW, reason="cancelled")
    assert domain.withdrawn_on_arrival(everything, 99, NOW - timedelta(seconds=1))
    assert not domain.withdrawn_on_arrival(everything, 99, NOW + timedelta(seconds=1))
    assert not domain.withdrawn_on_arrival(None, 1, NOW)


def test_a_tenant_is_unknown_for_good_only_once_its_topic_was_read_past_the_request():
    slack = timedelta(seconds=5)
    assert not domain.tenant_unknown_for_good(NOW, None, slack)  # not caught up yet
    assert not domain.tenant_unknown_for_good(NOW, NOW + timedelta(seconds=4), slack)
    assert domain.tenant_unknown_for_good(NOW, NOW + timedelta(seconds=6), slack)


def test_delivery_reports_only_move_a_message_forward():
    assert domain.report_moves("sent", "delivered")
    assert domain.report_moves("sending", "sent")
    assert not domain.report_moves("delivered", "delivered")  # the same report twice
    assert not domain.report_moves("delivered", "sent")  # late and out of order
    assert not domain.report_moves("delivered", "failed")
    assert domain.report_moves("sent", "failed")


def test_a_delivered_sms_costs_its_segments_times_the_tenants_price():
    assert domain.cost(1, Decimal("0.80")) == Decimal("0.80")
    assert domain.cost(3, Decimal("0.80")) == Decimal("2.40")


# --- templates -------------------------------------------------------------------------------

VALUES = {"customer": {"name": "Åsa"}, "tenant": {"name": "Acme"}}


def test_every_template_the_flows_send_has_a_valid_default_in_every_language():
    assert set(DEFAULTS) == set(TEMPLATES)
    for key in TEMPLATES:
        for language in LANGUAGES:
            subject, body = DEFAULTS[key][language]
            templating.check(key, subject)
            templating.check(key, body)
            rendered = templating.render(subject, body, key, {**templating.sample_values(key), **VALUES}, zone="Europe/Oslo", language=language)
            assert rendered.body and "None" not in rendered.body


def test_times_are_written_in_the_tenants_zone_and_the_customers_language():
    values = {**VALUES, "service": "mätarbyte", "starts_at": "2027-01-12T07:00:00+00:00"}
    sv = templating.render(*DEFAULTS["booking-notice"]["sv"], "booking-notice", values, zone="Europe/Stockholm", language="sv")
    assert sv.body == "Hej Åsa! Din tid för mätarbyte är bokad till tisdag 12 januari kl. 08.00. /Acme"
    nl = templating.render("", "{{ starts_at|date }} om {{ starts_at|time }} uur", "booking-notice", values, zone="Europe/Amsterdam", language="nl")
    assert nl.body == "dinsdag 12 januari om 08:00 uur"
    da = templating.render("", "{{ starts_at|datetime }} ({{ starts_at|longdate }})", "booking-notice", values, zone="Europe/Copenhagen", language="da")
    assert da.body == "tirsdag den 12. januar kl. 08.00 (12. januar 2027)"
    en = templating.render("", "{{ starts_at|datetime }}", "booking-notice", values, zone="Europe/London", language="en")
    assert en.body == "Tuesday 12 January at 07:00"


def test_optional_placeholders_the_request_leaves_out_are_empty():
    values = {**VALUES, "service": "APK", "starts_at": "2027-01-12T07:00:00+00:00", "my_pages_url": "https://x.test/p"}
    body = templating.render(*DEFAULTS["booking-notice"]["en"], "booking-notice", values, zone="UTC", language="en").body
    assert body.endswith("Please confirm or rebook on My pages: https://x.test/p Kind regards, Acme")
    assert "place" not in body


def test_a_template_with_an_unknown_placeholder_is_refused_with_its_line():
    with pytest.raises(templating.TemplateRejected) as refused:
        templating.check("booking-notice", "Hej {{ customer.name }},\nvälkommen {{ start_time }}")
    assert refused.value.line == 2
    assert "unknown placeholder 'start_time'" in refused.value.reason


def test_a_template_with_a_syntax_error_is_refused_with_its_line_and_reason():
    with pytest.raises(templating.TemplateRejected) as refused:
        templating.check("booking-notice", "Hej\n{% if service %}\n{{ service }")
    assert refused.value.line == 3
    assert "unexpected '}'" in refused.value.reason


def test_loop_variables_a_template_defines_are_not_unknown():
    templating.check("booking-notice", "{% for part in service.split() %}{{ part }}{% endfor %}")
    with pytest.raises(templating.TemplateRejected, match="unknown filter"):
        templating.check("booking-notice", "{{ service|attr('__class__') }}x{{ service|nope }}")


def test_templates_cannot_reach_outside_their_data():
    with pytest.raises(templating.CannotRender, match="unsafe|not safely|access"):
        templating.render("", "{{ service.__class__.__mro__[1].__subclasses__() }}", "booking-notice", {"service": "x"}, zone="UTC", language="en")
