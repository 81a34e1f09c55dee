"""What customers answer: inbound SMS from the providers' webhooks become `reply.received`; STOP
stops later SMS from the tenant, booking answers and CANCEL do not; consent for marketing."""
import logging
import uuid

from bookflow_contracts import CustomerSnapshot, CustomerUpdated, topics
from bookflow_devstack.testing import envelope, envelope_of, header, wait_until
from bookflow_notification.callbacks import twilio_signature

FORM = {"content-type": "application/x-www-form-urlencoded"}


async def elks_inbound(office, account: dict, sender: str, text: str, sms_id: str | None = None, secret: str | None = None):
    form = {"id": sms_id or f"s{uuid.uuid4().hex}", "from": sender, "to": account["sender"], "message": text, "created": "2031-01-14 10:00:00.1"}
    return await office.client.post(f"/webhooks/46elks/inbound?secret={secret or account['webhook_secret']}", data=form, headers=FORM)


async def twilio_inbound(office, settings, account: dict, sender: str, text: str):
    form = {"MessageSid": f"SM{uuid.uuid4().hex}", "AccountSid": account["username"], "From": sender, "To": account["sender"], "Body": text}
    url = f"{settings.base_url()}/webhooks/twilio/inbound"
    return await office.client.post("/webhooks/twilio/inbound", data=form,
                                    headers={**FORM, "X-Twilio-Signature": twilio_signature(account["password"], url, form)})


async def test_an_inbound_code_and_ok_becomes_reply_received_once(office, elks, kafka):
    account = elks.account("+46766861001")
    await office.configure(sms_providers=[account])
    customer = office.new_phone()
    for _ in range(2):  # 46elks retries the same inbound SMS
        response = await elks_inbound(office, account, customer, "ABC123 OK", sms_id="s-inbound-abc123")
        assert response.status_code == 200, response.text
        assert response.text == ""
    async with kafka.reader(topics.REPLY_RECEIVED) as reader:
        [record] = await reader.wait_for(lambda r: header(r, "tenant-id") == office.id)
        reply = envelope_of(record).payload
        assert (reply["sender"], reply["recipient"], reply["text"], reply["provider"], reply["provider_message_id"]) == (
            customer, "+46766861001", "ABC123 OK", "46elks", "s-inbound-abc123")
        assert reply["received_at"].startswith("2031-01-14T10:00:00.1")
        await reader.poll()
        assert len([r for r in reader.records if header(r, "tenant-id") == office.id]) == 1


async def test_an_inbound_sms_with_a_wrong_secret_or_to_an_unknown_number_is_refused(office, elks, kafka):
    account = elks.account("+46766861002")
    await office.configure(sms_providers=[account])
    assert (await elks_inbound(office, account, office.new_phone(), "ABC123 OK", secret="x" * 32)).status_code == 403
    assert (await elks_inbound(office, {**account, "sender": "+46700000000"}, office.new_phone(), "OK")).status_code == 404
    bad = await office.client.post(f"/webhooks/46elks/inbound?secret={account['webhook_secret']}", data={"to": account["sender"]}, headers=FORM)
    assert bad.status_code == 422
    assert [e["field"] for e in bad.json()["errors"]] == ["body.id", "body.from"]
    replies = (await office.client.get("/sandbox/replies", params={"tenant_id": office.id})).json()
    assert replies == []


async def test_a_customer_who_answers_stop_gets_no_more_sms_and_the_log_says_why(office, twilio, settings, kafka):
    account = twilio.account("+46766861003")
    await office.configure(sms_providers=[account])
    customer = office.new_phone()
    assert (await twilio_inbound(office, settings, account, customer, "Stopp")).status_code == 200
    forged = await twilio_inbound(office, settings, {**account, "password": "wrong"}, office.new_phone(), "STOP")
    assert forged.status_code == 403

    request = await office.send(phone=customer)
    message = await office.message_when(request.booking_id, lambda m: m["status"] != "queued", "the request to be decided")
    assert (message["status"], message["reason"]) == ("suppressed", "the customer answered STOP to SMS from this tenant")
    assert twilio.to(customer) == []
    async with kafka.reader(topics.REPLY_RECEIVED) as reader:
        [record] = await reader.wait_for(lambda r: header(r, "tenant-id") == office.id)  # STOP is a reply too
    assert envelope_of(record).payload["text"] == "Stopp"

    assert (await twilio_inbound(office, settings, account, customer, "START")).status_code == 200
    again = await office.send(phone=customer)
    await wait_until(lambda: twilio.to(customer), what="SMS after START")
    await office.message_when(again.booking_id, lambda m: m["status"] == "sent", "the SMS after START to be recorded")


async def test_booking_answers_and_cancel_do_not_opt_out(office, elks):
    account = elks.account("+46766861004")
    await office.configure(sms_providers=[account])
    customer = office.new_phone()
    for text in ("OK", "KONTAKT", "ABC123 STOP", "CANCEL"):
        assert (await elks_inbound(office, account, customer, text)).status_code == 200
    request = await office.send(phone=customer)
    await wait_until(lambda: elks.to(customer), what="the SMS to be sent")
    await office.message_when(request.booking_id, lambda m: m["status"] == "sent", "the SMS to be recorded")


async def test_marketing_goes_only_to_customers_with_recorded_consent(office, kafka):
    customer_id = uuid.uuid4()
    number = office.new_phone()
    data = {"service": "klippning", "booking_url": "https://boka.test/x"}

    async def book_again():
        return await office.send("book-again", purpose="marketing", data=data, phone=number, customer_id=customer_id)

    first = await book_again()
    refused = await office.message_when(first.booking_id, lambda m: m["status"] != "queued", "the request to be decided")
    assert (refused["status"], refused["reason"]) == ("suppressed", "marketing message and the customer has not consented to marketing")

    snapshot = CustomerSnapshot(customer_id=customer_id, name="Åsa Öberg", phone=number)
    await kafka.publish_envelope(envelope(CustomerUpdated(customer=snapshot, marketing_consent=True, changed_fields=["marketing_consent"]), office.id))

    async def sent_after_consent():
        request = await book_again()
        message = await office.message_when(request.booking_id, lambda m: m["status"] != "queued", "the request to be decided")
        return message["status"] == "delivered" and message

    message = await wait_until(sent_after_consent, timeout=30, what="consent to be recorded")
    assert message["body"] == (f"Hej Åsa! Är det dags för klippning igen? Boka din nästa tid enkelt här: https://boka.test/x "
                               f"Svara STOPP om du inte vill få fler påminnelser. /Firma {office.id}")


def mailgun_form(key: str, sender: str, text: str, message_id: str | None = None, age_seconds: int = 0) -> dict:
    import time

    from bookflow_notification.callbacks import mailgun_signature

    timestamp, token = str(int(time.time()) - age_seconds), uuid.uuid4().hex
    return {"timestamp": timestamp, "token": token, "signature": mailgun_signature(key, timestamp, token),
            "Message-Id": message_id or f"<{uuid.uuid4().hex}@mail.example.se>", "sender": sender, "recipient": "svar@firma.example",
            "subject": "Re: Din tid", "body-plain": f"{text}\n\n> Hej, din tid är bokad…", "stripped-text": text}


async def test_an_e_mail_answer_forwarded_by_mailgun_becomes_reply_received_once(office, kafka):
    key = uuid.uuid4().hex
    described = await office.configure(inbound_email={"address": "svar@firma.example", "signing_key": key})
    assert described["settings"]["inbound_email"]["signing_key"] == "***"
    form = mailgun_form(key, "Asa@Example.se", "ABC123 OK", message_id="<answer-1@mail.example.se>")
    for _ in range(2):  # Mailgun retries until it gets a 200
        response = await office.client.post(f"/webhooks/mailgun/{office.id}/inbound", data=form, headers=FORM)
        assert response.status_code == 200, response.text
    async with kafka.reader(topics.REPLY_RECEIVED) as reader:
        [record] = await reader.wait_for(lambda r: header(r, "tenant-id") == office.id)
        reply = envelope_of(record).payload
        assert (reply["channel"], reply["sender"], reply["recipient"], reply["text"], reply["provider"]) == (
            "email", "asa@example.se", "svar@firma.example", "ABC123 OK", "mailgun")
        await reader.poll()
        assert len([r for r in reader.records if header(r, "tenant-id") == office.id]) == 1


async def test_an_e_mail_answer_with_a_wrong_or_old_signature_is_refused_and_kept_nowhere(office):
    key = uuid.uuid4().hex
    await office.configure(inbound_email={"address": "svar@firma.example", "signing_key": key})
    forged = mailgun_form("not-the-key-0123456789", "asa@example.se", "ABC123 OK")
    replayed = mailgun_form(key, "asa@example.se", "ABC123 OK", age_seconds=3600)
    for form in (forged, replayed):
        response = await office.client.post(f"/webhooks/mailgun/{office.id}/inbound", data=form, headers=FORM)
        assert response.status_code == 403, response.text
    assert (await office.client.get("/sandbox/replies", params={"tenant_id": office.id})).json() == []


async def test_an_e_mail_in_the_sandbox_can_be_answered_as_the_customer(office, kafka):
    await office.configure(inbound_email={"address": "svar@firma.example", "signing_key": uuid.uuid4().hex})
    request = await office.send(channels=("email",), email="asa@example.se")
    sent = await office.message_when(request.booking_id, lambda m: m["status"] == "delivered", "the e-mail in the sandbox")
    response = await office.client.post(f"/sandbox/messages/{sent['id']}/answer", data={"text": "Tack, det passar"}, headers=FORM)
    assert response.status_code == 303
    async with kafka.reader(topics.REPLY_RECEIVED) as reader:
        [record] = await reader.wait_for(lambda r: header(r, "tenant-id") == office.id)
    reply = envelope_of(record).payload
    assert (reply["channel"], reply["sender"], reply["recipient"], reply["text"]) == ("email", "asa@example.se", "svar@firma.example", "Tack, det passar")


async def test_a_replayed_mailgun_post_is_refused_even_with_another_message_id_sender_and_text(office):
    key = uuid.uuid4().hex
    await office.configure(inbound_email={"address": "svar@firma.example", "signing_key": key})
    url = f"/webhooks/mailgun/{office.id}/inbound"
    captured = mailgun_form(key, "asa@example.se", "ABC123 OK")
    assert (await office.client.post(url, data=captured, headers=FORM)).status_code == 200
    assert (await office.client.post(url, data=captured, headers=FORM)).status_code == 200  # Mailgun retrying: changes nothing
    forged = {**captured, "Message-Id": "<other@evil.example>", "sender": "boss@firma.example", "stripped-text": "ABC123 KONTAKT"}
    response = await office.client.post(url, data=forged, headers=FORM)
    assert response.status_code == 403
    replies = (await office.client.get("/sandbox/replies", params={"tenant_id": office.id})).json()
    assert [(r["sender"], r["text"]) for r in replies] == [("asa@example.se", "ABC123 OK")]


async def test_stop_and_start_are_logged_as_facts_without_the_number_or_the_text(office, elks, caplog):
    account = elks.account("+46766864006")
    await office.configure(sms_providers=[account])
    customer = office.new_phone()
    with caplog.at_level(logging.DEBUG):
        assert (await elks_inbound(office, account, customer, "Stopp")).status_code == 200
        assert (await elks_inbound(office, account, customer, "START")).status_code == 200
        request = await office.send(phone=customer, data={"service": "tandvård", "starts_at": "2031-01-20T07:00:00+00:00"})
        await wait_until(lambda: elks.to(customer), what="the SMS")
        await office.message_when(request.booking_id, lambda m: m["status"] == "sent", "the SMS to be recorded")
    logged = "\n".join(r.getMessage() for r in caplog.records if not r.name.startswith("httpx"))
    assert "asked for no more SMS" in logged and "asked for SMS from tenant" in logged
    for personal in (customer, customer[1:], "Stopp", "tandvård", "Åsa"):
        assert personal not in logged
