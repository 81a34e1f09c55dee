"""SMS through fake 46elks and Twilio servers on real local ports: one request sends one SMS,
delivery reports mark it delivered and bill it, retries and failover, signed webhooks."""
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from bookflow_contracts import topics
from bookflow_devstack.testing import envelope, envelope_of, header, wait_until
from bookflow_notification.callbacks import twilio_signature

FORM = {"content-type": "application/x-www-form-urlencoded"}
STOCKHOLM = ZoneInfo("Europe/Stockholm")


def path_of(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


async def test_one_request_sends_one_sms_through_46elks_and_its_delivery_report_bills_it(office, elks, kafka):
    await office.announce("Europe/Stockholm")
    await office.configure(sms_providers=[elks.account("+46766860001")], sms_price_per_segment="0.80", payer="salon",
                           quiet_hours_start="00:00", quiet_hours_end="00:00")  # no quiet hours: the test runs at any hour
    number = office.new_phone()
    request = await office.send(phone=number)
    await kafka.publish_envelope(envelope(request, office.id))  # the same request again

    [sms] = await wait_until(lambda: elks.to(number), what="46elks to receive the SMS")
    assert sms["from"] == "+46766860001"
    assert sms["message"] == f"Hej Åsa! Din tid för mätarbyte är bokad till måndag 20 januari kl. 08.00. /Firma {office.id}"
    sent = await office.message_when(request.booking_id, lambda m: m["status"] == "sent", "the message to be sent")
    assert (sent["provider"], sent["segments"], sent["cost"]) == ("46elks", 1, None)

    report = {"id": sms["_id"], "status": "delivered", "delivered": "2031-01-14T10:00:00.123456"}
    for _ in range(2):  # 46elks retries: the same report twice is one update
        response = await office.client.post(path_of(sms["whendelivered"]), data=report, headers=FORM)
        assert response.status_code == 204, response.text
    [message] = await office.log(request.booking_id)
    assert message["status"] == "delivered"
    assert Decimal(message["cost"]) == Decimal("0.80")
    assert [h["status"] for h in message["history"]] == ["sent", "delivered"]
    usage = (await office.client.get(f"/tenants/{office.id}/usage", headers=office.headers)).json()
    assert [(u["payer"], u["month"], u["messages"], u["segments"], Decimal(u["amount"])) for u in usage] == [("salon", "2031-01", 1, 1, Decimal("0.80"))]
    assert len(elks.to(number)) == 1

    async with kafka.reader(topics.NOTIFICATION_STATUS) as reader:
        records = await reader.wait_for(lambda r: header(r, "tenant-id") == office.id, count=2)
    payloads = [envelope_of(r).payload for r in records]
    assert [(p["status"], p["provider"], p["segments"], p["template_key"]) for p in payloads] == [
        ("sent", "46elks", 1, "booking-notice"), ("delivered", "46elks", 1, "booking-notice")]
    assert payloads[0]["cost"] is None
    assert (Decimal(payloads[1]["cost"]), payloads[1]["currency"], payloads[1]["payer"]) == (Decimal("0.80"), "SEK", "salon")


async def test_a_46elks_report_with_a_wrong_secret_is_refused_and_changes_nothing(office, elks):
    await office.configure(sms_providers=[elks.account("+46766860002")])
    number = office.new_phone()
    request = await office.send(phone=number)
    [sms] = await wait_until(lambda: elks.to(number), what="46elks to receive the SMS")
    await office.message_when(request.booking_id, lambda m: m["status"] == "sent", "the message to be sent")
    forged = f"/webhooks/46elks/{office.id}/delivery?secret=not-the-secret"
    response = await office.client.post(forged, data={"id": sms["_id"], "status": "delivered"}, headers=FORM)
    assert response.status_code == 403
    assert (await office.log(request.booking_id))[0]["status"] == "sent"


async def test_one_request_sends_one_sms_through_twilio_and_its_signed_status_callback_delivers_it(office, twilio, settings):
    await office.configure(sms_providers=[twilio.account("+46766860003")], sms_price_per_segment="0.50", currency="NOK")
    number = office.new_phone()
    request = await office.send(phone=number, data={"service": "x" * 200})  # two segments
    [sms] = await wait_until(lambda: twilio.to(number), what="Twilio to receive the SMS")
    assert (sms["From"], sms["To"]) == ("+46766860003", number)
    await office.message_when(request.booking_id, lambda m: m["status"] == "sent", "the message to be sent")

    callback = {"MessageSid": sms["_id"], "MessageStatus": "delivered", "AccountSid": twilio.username, "To": number}
    url = sms["StatusCallback"]
    assert url == f"{settings.base_url()}/webhooks/twilio/{office.id}/status"
    bad = await office.client.post(path_of(url), data=callback, headers={**FORM, "X-Twilio-Signature": twilio_signature("wrong", url, callback)})
    assert bad.status_code == 403
    assert (await office.log(request.booking_id))[0]["status"] == "sent"
    signed = {**FORM, "X-Twilio-Signature": twilio_signature(twilio.password, url, callback)}
    for _ in range(2):
        assert (await office.client.post(path_of(url), data=callback, headers=signed)).status_code == 204
    [message] = await office.log(request.booking_id)
    assert (message["status"], message["segments"], Decimal(message["cost"]), message["currency"]) == ("delivered", 2, Decimal("1.00"), "NOK")
    assert [h["status"] for h in message["history"]] == ["sent", "delivered"]


async def test_a_provider_answering_503_is_retried_and_the_sms_is_sent_once(office, elks):
    await office.configure(sms_providers=[elks.account("+46766860004")])
    elks.answers[:] = [503]
    calls_before = elks.calls
    number = office.new_phone()
    request = await office.send(phone=number)
    await wait_until(lambda: elks.to(number), what="the retried SMS")
    message = await office.message_when(request.booking_id, lambda m: m["status"] == "sent", "the message to be sent")
    assert elks.calls - calls_before == 2
    assert len(elks.to(number)) == 1
    [retry, sent] = message["history"]
    assert retry["status"] == "queued" and "46elks failed: 46elks answered 503" in retry["detail"]
    assert sent["status"] == "sent"


async def test_when_the_first_provider_is_down_the_second_sends(office, elks, twilio):
    from bookflow_devstack.infra import free_port

    down = {**elks.account("+46766860005"), "base_url": f"http://127.0.0.1:{free_port()}"}
    await office.configure(sms_providers=[down, twilio.account("+46766860005")])
    number = office.new_phone()
    request = await office.send(phone=number)
    await wait_until(lambda: twilio.to(number), what="the second provider to send")
    message = await office.message_when(request.booking_id, lambda m: m["status"] == "sent", "the message to be sent")
    assert message["provider"] == "twilio"
    details = [h["detail"] or "" for h in message["history"]]
    assert "46elks cannot be reached" in details[0] and "retry" in details[0]
    assert "trying the next provider" in details[1]
    assert elks.to(number) == []


async def test_an_sms_refused_by_every_provider_falls_back_to_the_next_channel(office, elks):
    await office.configure(sms_providers=[elks.account("+46766860006")])
    elks.answers[:] = [400]
    request = await office.send(channels=["sms", "email"], phone=office.new_phone(), email="asa@example.se")
    message = await office.message_when(request.booking_id, lambda m: m["status"] == "delivered", "the e-mail fallback")
    assert message["channel"] == "email"
    assert any("sms failed (46elks answered 400" in (h["detail"] or "") for h in message["history"])
    inbox = (await office.client.get("/sandbox/messages", params={"tenant_id": office.id})).json()
    assert [(m["channel"], m["recipient"], m["subject"]) for m in inbox] == [("email", "asa@example.se", "Din bokade tid")]


async def test_a_message_that_fails_on_its_only_channel_is_failed_with_the_reason(office, elks):
    await office.configure(sms_providers=[elks.account("+46766860007")])
    elks.answers[:] = [401]
    request = await office.send(phone=office.new_phone())
    message = await office.message_when(request.booking_id, lambda m: m["status"] == "failed", "the message to fail")
    assert message["reason"].startswith("46elks answered 401")


async def test_a_provider_down_for_a_while_is_retried_with_growing_pauses_and_the_sms_goes_once_when_it_is_back(office, elks):
    """Issue 9.2: an outage longer than a few attempts loses nothing (test settings: pauses from
    0.2 s doubling to at most 1 s, two calls per provider before the cycle starts over)."""
    await office.configure(sms_providers=[elks.account("+46766860008")], quiet_hours_start="00:00", quiet_hours_end="00:00")
    elks.answers[:] = [503] * 7
    calls_before = elks.calls
    number = office.new_phone()
    request = await office.send(phone=number)
    await wait_until(lambda: elks.to(number), timeout=30, what="the SMS once the provider is back")
    message = await office.message_when(request.booking_id, lambda m: m["status"] == "sent", "the message to be sent")
    assert elks.calls - calls_before == 8
    assert len(elks.to(number)) == 1
    retries = [h for h in message["history"] if h["status"] == "queued"]
    assert len(retries) == 7 and all("46elks answered 503" in h["detail"] for h in retries)
    waits = [(datetime.fromisoformat(h["detail"].rsplit("retry at ", 1)[1]) - datetime.fromisoformat(h["at"])).total_seconds()
             for h in retries]
    assert [round(w, 1) for w in waits] == [0.2, 0.4, 0.8, 1.0, 1.0, 1.0, 1.0]  # growing, capped


async def test_an_sms_its_provider_cannot_take_before_its_valid_until_fails_and_says_why(office, elks):
    await office.configure(sms_providers=[elks.account("+46766860009")], quiet_hours_start="00:00", quiet_hours_end="00:00")
    elks.answers[:] = [503] * 1000
    try:
        request = await office.send(phone=office.new_phone(), valid_until=datetime.now(UTC) + timedelta(seconds=3))
        message = await office.message_when(request.booking_id, lambda m: m["status"] == "failed", "the message to fail")
    finally:
        elks.answers.clear()
    assert "no longer serves its purpose" in message["reason"]
    assert message["history"][-1]["status"] == "failed" and "no longer serves its purpose" in message["history"][-1]["detail"]


async def test_an_sms_retried_into_quiet_hours_waits_until_morning(office, elks, clock):
    await office.announce("Europe/Stockholm")
    await office.configure(sms_providers=[elks.account("+46766860010")], quiet_hours_start="21:00", quiet_hours_end="08:00")
    elks.answers[:] = [503]
    number = office.new_phone()
    clock.frozen = datetime(2031, 1, 14, 20, 59, 59, tzinfo=STOCKHOLM)
    try:
        request = await office.send(phone=number)
        await office.message_when(request.booking_id, lambda m: m["history"], "the first attempt to fail")
        calls = elks.calls
        clock.frozen = datetime(2031, 1, 14, 21, 0, 30, tzinfo=STOCKHOLM)  # the retry falls due in quiet hours
        held = await office.message_when(request.booking_id, lambda m: len(m["history"]) == 2, "the retry to be held")
        assert held["history"][1]["detail"] == "held for the tenant's quiet hours until 2031-01-15T08:00:00+01:00"
        assert elks.calls == calls
        clock.frozen = datetime(2031, 1, 15, 8, 0, tzinfo=STOCKHOLM)
        await wait_until(lambda: elks.to(number), what="the SMS at 08:00")
    finally:
        clock.frozen = None


async def test_a_delivery_report_that_comes_before_the_send_is_recorded_is_kept_and_applied(office, elks):
    """Issue 9.5: the provider reports delivery before it has even answered the send."""
    await office.configure(sms_providers=[elks.account("+46766860011")], sms_price_per_segment="0.80",
                           quiet_hours_start="00:00", quiet_hours_end="00:00")
    answers = []

    async def report_first(form: dict, sms_id: str) -> None:
        if form.get("from") == "+46766860011":
            report = {"id": sms_id, "status": "delivered", "delivered": "2031-01-14T10:00:00.5"}
            answers.append((await office.client.post(path_of(form["whendelivered"]), data=report, headers=FORM)).status_code)

    elks.before_answer = report_first
    try:
        request = await office.send(phone=office.new_phone())
        message = await office.message_when(request.booking_id, lambda m: m["status"] == "delivered", "the early report to be applied")
    finally:
        elks.before_answer = None
    assert answers == [204]
    assert Decimal(message["cost"]) == Decimal("0.80")
    assert [h["status"] for h in message["history"]] == ["sent", "delivered"]
