"""Issue 10 in the notification service: every route and webhook takes bounded, checked input
and answers 4xx, never 500, to NUL characters and lone surrogates (10.6); letter folders stay
under one root and SMS provider addresses are the providers' own (10.6, server-side request
forgery); the OpenAPI document tells the truth (10.9). (Mailgun replays and what STOP logs:
test_replies.py.)"""
import json

from bookflow_notification import storage
FORM = {"content-type": "application/x-www-form-urlencoded"}


async def test_a_46elks_callback_without_its_secret_is_401_and_with_a_wrong_one_403(office, elks):
    await office.configure(sms_providers=[elks.account("+46766864001")])
    report = {"id": "s-nothing", "status": "delivered"}
    assert (await office.client.post(f"/webhooks/46elks/{office.id}/delivery", data=report, headers=FORM)).status_code == 401
    assert (await office.client.post(f"/webhooks/46elks/{office.id}/delivery?secret={'x' * 32}", data=report, headers=FORM)).status_code == 403


async def test_nul_characters_and_lone_surrogates_anywhere_are_refused_with_4xx_never_500(office, elks, twilio, settings):
    account = elks.account("+46766864002")
    await office.configure(sms_providers=[account, twilio.account("+46766864003")])
    secret = account["webhook_secret"]
    answers = [
        await office.client.post(f"/webhooks/46elks/inbound?secret={secret}", content=b"id=s1&from=%2B46701234567&to=%00&message=hi",
                                 headers=FORM),
        await office.client.put(f"/tenants/{office.id}/templates/booking-notice/sms/sv", content=b'{"body": "Hej \\ud800"}',
                                headers={**office.headers, "content-type": "application/json"}),
        await office.client.post(f"/webhooks/46elks/inbound?secret={secret}", content=b"id=s%002&from=x&to=y", headers=FORM),
        await office.client.post(f"/webhooks/46elks/inbound?secret=a%00b", content=b"id=s3&from=%2B46701234567&to=%2B46766864002", headers=FORM),
        await office.client.post("/webhooks/46elks/t-%00x/delivery?secret=x", data={"id": "s", "status": "sent"}, headers=FORM),
        await office.client.post("/webhooks/twilio/inbound", content=b"MessageSid=SM1&From=%00&To=%2B46766864003", headers=FORM),
        await office.client.post("/webhooks/mailgun/t-%00/inbound", data={"timestamp": "1"}, headers=FORM),
        await office.client.get("/sandbox/messages", params={"tenant_id": "a\x00b"}),
        await office.client.get("/sandbox/messages", params={"recipient": "+4670\x00"}),
        await office.client.get("/sandbox?tenant_id=%ED%A0%80"),
        await office.client.get("/sandbox/replies?tenant_id=a%ED%A0%80"),
        await office.client.put(f"/tenants/{office.id}/templates/booking-notice/sms/sv", json={"body": "Hej\x00"}, headers=office.headers),
        await office.client.put(f"/tenants/{office.id}/notification-settings", json={"payer": "a\x00"}, headers=office.headers),
        await office.client.get(f"/tenants/{office.id}/usage", params={"month": "2031-13"}, headers=office.headers),
    ]
    assert [r.status_code for r in answers] == [422] * len(answers), [r.text for r in answers]
    replies = (await office.client.get("/sandbox/replies", params={"tenant_id": office.id})).json()
    assert replies == []
    invalid_utf8 = await office.client.post(f"/webhooks/46elks/inbound?secret={secret}",
                                            content=b"id=s4&from=%2B46701234567&to=%2B46766864002&message=a%ED%A0%80b", headers=FORM)
    assert invalid_utf8.status_code < 500  # read with replacement characters: storable


async def test_a_letter_folder_is_a_subfolder_of_the_letters_folder_and_nothing_else(office, settings, tmp_path):
    for folder in ("../other-tenant", "/etc", "a/../../b", str(tmp_path)):
        response = await office.client.put(f"/tenants/{office.id}/notification-settings", json={"letter_folder": folder}, headers=office.headers)
        assert response.status_code == 422, folder
        assert response.json()["errors"][0]["field"] == "body.letter_folder"
    # the booking service passes on what its administrator typed: a full path under the root is that subfolder, any other is not used
    await office.announce(letter_folder=str(tmp_path / "elsewhere"))
    request = await office.send("order-letter", channels=["letter"], address={"street": "Kyrkvägen 7", "postcode": "123 45", "city": "Nacka"},
                                data={"service": "x", "starts_at": "2031-01-20T07:00:00+00:00", "booking_code": "K7Q2MX"})
    await office.message_when(request.booking_id, lambda m: m["status"] == "sent", "the letter")
    assert not (tmp_path / "elsewhere").exists()
    from pathlib import Path

    assert len(list((Path(settings.letters_dir) / office.id).glob("*.pdf"))) == 1


async def test_an_sms_provider_address_must_be_the_providers_own_or_an_allowed_test_address(office, service, elks):
    for base_url in ("http://169.254.169.254/latest", "http://localhost:5432", "https://api.46elks.com.evil.example", "file:///etc/passwd"):
        account = {**elks.account("+46766864004"), "base_url": base_url}
        response = await office.client.put(f"/tenants/{office.id}/notification-settings", json={"sms_providers": [account]},
                                           headers=office.headers)
        assert response.status_code == 422, base_url
    public = {**elks.account("+46766864004"), "base_url": "https://api.46elks.com"}
    assert (await office.client.put(f"/tenants/{office.id}/notification-settings", json={"sms_providers": [public]},
                                    headers=office.headers)).status_code == 200

    # written past the API (stored before the rule): never called
    runtime, _ = service
    sneaky = {**elks.account("+46766864005"), "base_url": elks.base_url.replace("127.0.0.1", "localhost")}
    async with runtime.db.transaction() as session:
        await storage.save_tenant(session, office.id, settings={"sms_providers": [sneaky], "quiet_hours_start": "00:00", "quiet_hours_end": "00:00"})
    calls = elks.calls
    request = await office.send(phone=office.new_phone())
    message = await office.message_when(request.booking_id, lambda m: m["status"] == "failed", "the message to fail")
    assert message["reason"] == "46elks's address is not its public API nor an allowed test address"
    assert elks.calls == calls


async def test_the_openapi_document_declares_webhook_bodies_problems_and_no_missing_schemas(office):
    doc = (await office.client.get("/openapi.json")).json()
    text = json.dumps(doc)
    assert "#/$defs/" not in text
    schemas = doc["components"]["schemas"]
    for ref in {r for r in _refs(doc)}:
        assert ref.removeprefix("#/components/schemas/") in schemas, ref
    for path, methods in doc["paths"].items():
        for method, operation in methods.items():
            assert {"401", "404", "422", "500", "503"} <= set(operation["responses"]), (method, path)
            assert operation["responses"]["422"]["content"]["application/problem+json"]["schema"]["$ref"] == "#/components/schemas/Problem"
            if path.startswith("/webhooks/"):
                form = operation["requestBody"]["content"]["application/x-www-form-urlencoded"]["schema"]
                assert form["$ref"].startswith("#/components/schemas/"), path
    put = doc["paths"]["/tenants/{tenant_id}/notification-settings"]["put"]
    assert put["requestBody"]["content"]["application/json"]["schema"]["$ref"].startswith("#/components/schemas/TenantNotificationSettings")
    elks_form = schemas[doc["paths"]["/webhooks/46elks/inbound"]["post"]["requestBody"]["content"]["application/x-www-form-urlencoded"]["schema"]["$ref"].rsplit("/", 1)[1]]
    assert {"id", "from", "to", "message"} <= set(elks_form["properties"])


def _refs(node):
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


async def test_the_settings_api_is_for_the_tenants_administrators(office):
    from bookflow_runtime import development
    from bookflow_runtime.auth import issue_staff_token

    planner = issue_staff_token(development.STAFF_TOKEN_PRIVATE_KEY, office.id, "pia", ("planner",))
    response = await office.client.put(f"/tenants/{office.id}/notification-settings", json={}, headers={"Authorization": f"Bearer {planner}"})
    assert response.status_code == 403


async def test_each_role_reads_and_changes_what_its_work_needs(office):
    """Settings and templates are the administrators'; the communication log and usage are for
    planners too; a receptionist reads the communication about one booking; a technician none."""
    import uuid

    from bookflow_runtime import development
    from bookflow_runtime.auth import issue_staff_token

    await office.announce()
    t = f"/tenants/{office.id}"
    routes = {
        "settings": ("GET", f"{t}/notification-settings", None), "templates": ("GET", f"{t}/templates", None),
        "preview": ("POST", f"{t}/templates/booking-notice/sms/sv/preview", {}), "log": ("GET", f"{t}/messages", None),
        "booking log": ("GET", f"{t}/messages?booking_id={uuid.uuid4()}", None), "usage": ("GET", f"{t}/usage", None),
    }
    allowed = {
        "administrator": set(routes), "planner": {"log", "booking log", "usage"},
        "receptionist": {"booking log"}, "technician": set(),
    }
    for role, may in allowed.items():
        token = issue_staff_token(development.STAFF_TOKEN_PRIVATE_KEY, office.id, "kim", (role,))
        for name, (method, path, body) in routes.items():
            answer = await office.client.request(method, path, json=body, headers={"Authorization": f"Bearer {token}"})
            assert answer.status_code == (200 if name in may else 403), (role, name, answer.status_code, answer.text)
