"""Staff edit a tenant's templates: refused with line and reason when invalid, previewed, and
used for the next message in that channel and language."""


async def test_saving_a_template_with_an_unknown_placeholder_or_a_syntax_error_is_refused_with_line_and_reason(office):
    url = f"/tenants/{office.id}/templates/booking-notice/sms/sv"
    unknown = await office.client.put(url, json={"body": "Hej {{ customer.name }}!\nDin tid: {{ starttid }}"}, headers=office.headers)
    assert unknown.status_code == 422
    assert unknown.json()["code"] == "template-invalid"
    assert unknown.json()["detail"].startswith("body: line 2: unknown placeholder 'starttid'")
    broken = await office.client.put(url, json={"body": "Hej\n{% if service %}{{ service }}"}, headers=office.headers)
    assert broken.status_code == 422
    assert broken.json()["detail"].startswith("body: line 2: ")
    assert "endif" in broken.json()["detail"]
    assert (await office.client.put(f"/tenants/{office.id}/templates/no-such-key/sms/sv", json={"body": "x"}, headers=office.headers)).status_code == 404
    assert (await office.client.put(url, json={"body": "x"})).status_code == 401


async def test_a_saved_template_is_previewed_and_used_for_the_next_message(office):
    url = f"/tenants/{office.id}/templates/booking-notice/sms/sv"
    body = "{{ customer.name }}: {{ service }} {{ starts_at|date }} kl {{ starts_at|time }}. Svara STOP för att slippa SMS."
    saved = await office.client.put(url, json={"body": body}, headers=office.headers)
    assert saved.status_code == 200, saved.text
    preview = await office.client.post(f"{url}/preview", json={"data": {"service": "däckbyte"}}, headers=office.headers)
    assert preview.status_code == 200, preview.text
    assert preview.json()["body"] == "Kim Kund: däckbyte tisdag 9 mars kl 09.30. Svara STOP för att slippa SMS."
    assert (preview.json()["segments"], preview.json()["encoding"]) == (1, "gsm-7")
    draft = await office.client.post(f"{url}/preview", json={"body": "{{ nope }}"}, headers=office.headers)
    assert (draft.status_code, draft.json()["detail"][:14]) == (422, "body: line 1: ")

    request = await office.send(phone=office.new_phone())
    message = await office.message_when(request.booking_id, lambda m: m["status"] == "delivered", "the message")
    assert message["body"] == "Åsa Öberg: mätarbyte måndag 20 januari kl 08.00. Svara STOP för att slippa SMS."
    listed = (await office.client.get(f"/tenants/{office.id}/templates", headers=office.headers)).json()
    notice = next(t for t in listed if t["template_key"] == "booking-notice")
    assert [(s["channel"], s["language"]) for s in notice["saved"]] == [("sms", "sv")]
    assert set(notice["defaults"]) == {"sv", "nb", "da", "nl", "en"}
