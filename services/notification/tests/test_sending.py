"""The notification service on the real broker and PostgreSQL, through the sandbox channel: a
request becomes one message, readable over HTTP; the same request twice sends once."""
from bookflow_contracts import topics
from bookflow_devstack.testing import envelope, envelope_of, header, wait_until


async def test_a_request_becomes_one_message_in_the_sandbox_and_is_reported_delivered(office, kafka):
    number = office.new_phone()
    request = await office.send(phone=number, name="Ola", language="nb", data={"service": "målerbytte", "starts_at": "mandag 09:00"})
    await kafka.publish_envelope(envelope(request, office.id))  # the same request again

    async def inbox():
        return (await office.client.get("/sandbox/messages", params={"tenant_id": office.id})).json()

    [message] = await wait_until(inbox, what="the sandbox to receive the message")
    assert message["recipient"] == number
    assert message["body"] == f"Hei Ola! Timen din for målerbytte er bestilt til mandag 09:00. Hilsen Firma {office.id}"
    async with kafka.reader(topics.NOTIFICATION_STATUS) as reader:
        [status] = await reader.wait_for(lambda r: header(r, "tenant-id") == office.id)
    assert envelope_of(status).payload["status"] == "delivered"
    log = await office.log(request.booking_id)
    assert [(m["channel"], m["status"]) for m in log] == [("sms", "delivered")]
    assert [h["status"] for h in log[0]["history"]] == ["sent", "delivered"]
    assert len(await inbox()) == 1


async def test_a_customer_without_a_usable_channel_gets_a_failed_message_with_the_reason(office):
    request = await office.send(channels=["sms", "email"])  # neither a phone nor an e-mail address
    message = await office.message_when(request.booking_id, lambda m: m["status"] != "queued", "the request to be decided")
    assert message["status"] == "failed"
    assert message["reason"] == "the customer cannot be reached by any remaining channel of the request (no sms contact; no email contact)"
    assert (await office.client.get("/sandbox/messages", params={"tenant_id": office.id})).json() == []


async def test_the_communication_log_is_for_the_tenants_staff_only(office, settings):
    from bookflow_runtime import development
    from bookflow_runtime.auth import issue_staff_token

    request = await office.send(phone=office.new_phone())
    url = f"/tenants/{office.id}/messages"
    assert (await office.client.get(url)).status_code == 401
    stranger = issue_staff_token(development.STAFF_TOKEN_PRIVATE_KEY, "another-tenant", "eve")
    assert (await office.client.get(url, headers={"Authorization": f"Bearer {stranger}"})).status_code == 404
    await office.message_when(request.booking_id, lambda m: m["status"] == "delivered", "the message")


async def test_an_sms_text_over_ten_segments_fails_with_the_reason_instead_of_going(office):
    """Issue 10.6: a 1.5 MB street once became one SMS of 9,806 segments, delivered and billed."""
    number = office.new_phone()
    request = await office.send(phone=number, data={"service": "x" * 2000, "starts_at": "2031-01-20T07:00:00+00:00"})
    message = await office.message_when(request.booking_id, lambda m: m["status"] != "queued", "the request to be decided")
    assert message["status"] == "failed"
    assert message["reason"].startswith("the SMS text takes 14 segments, more than the 10 an SMS may take")
    assert (await office.client.get("/sandbox/messages", params={"recipient": number})).json() == []


async def test_an_oversized_request_or_one_with_a_nul_is_refused_to_the_dead_letters(office, kafka):
    from bookflow_contracts import topics

    await office.announce()
    huge = await office.send(phone=office.new_phone(), data={"service": "x" * 100_000})
    nul = await office.send(phone=office.new_phone(), data={"service": "a\x00b"})
    fine = await office.send(phone=office.new_phone())
    await office.message_when(fine.booking_id, lambda m: m["status"] == "delivered", "the valid request behind them")
    async with kafka.reader(topics.DEAD_LETTER) as reader:
        dead = await reader.wait_for(lambda r: header(r, "tenant-id") == office.id, count=2)
    reasons = sorted(header(r, "dead-letter-reason") for r in dead)
    assert reasons[0].startswith("invalid: ") and "more than the 65,536 a request may carry" in " ".join(reasons)
    assert any("NUL" in r for r in reasons)
    assert await office.log(huge.booking_id) == [] and await office.log(nul.booking_id) == []
