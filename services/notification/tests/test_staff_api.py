"""What the staff console reads from the notification service, on the real broker and PostgreSQL:
a letter's PDF for the tenant's planners and administrators (no one else's), messages per day
and template in the tenant's zone, and an invalid template answered as Problem Details that name
the field and the line."""
import subprocess
import uuid
from collections import Counter
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from bookflow_devstack.testing import new_tenant
from bookflow_runtime import development
from bookflow_runtime.auth import issue_staff_token


def as_role(tenant_id: str, *roles: str) -> dict:
    return {"Authorization": f"Bearer {issue_staff_token(development.STAFF_TOKEN_PRIVATE_KEY, tenant_id, 'kim', roles)}"}


async def test_a_planner_downloads_a_letter_of_the_tenant_and_no_one_elses(office, settings, tmp_path):
    folder = Path(settings.letters_dir) / f"{office.id}-brev"
    await office.configure(address_lines=["Storgatan 1", "111 22 Stockholm"])
    await office.announce(letter_folder=folder.name, phone="08-123 45 67")
    request = await office.send("booking-notice", channels=["letter"], name="Łukasz Şahin",
                                address={"street": "Kyrkvägen 7", "postcode": "123 45", "city": "Nacka"})
    letter = await office.message_when(request.booking_id, lambda m: m["status"] == "sent", "the letter to be written")
    url = f"/tenants/{office.id}/letters/{letter['id']}"

    answer = await office.client.get(url, headers=as_role(office.id, "planner"))
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/pdf"
    (tmp_path / "letter.pdf").write_bytes(answer.content)
    text = subprocess.run(["pdftotext", str(tmp_path / "letter.pdf"), "-"], capture_output=True, text=True, check=True).stdout
    assert "Łukasz Şahin" in text and "Kyrkvägen 7" in text
    assert (await office.client.get(url, headers=office.headers)).status_code == 200  # the administrator
    for role in ("receptionist", "technician"):
        assert (await office.client.get(url, headers=as_role(office.id, role))).status_code == 403, role
    assert (await office.client.get(url)).status_code == 401

    other = new_tenant()
    across = await office.client.get(f"/tenants/{other}/letters/{letter['id']}", headers=as_role(other, "administrator"))
    assert (across.status_code, across.headers["content-type"]) == (404, "application/problem+json")
    assert (await office.client.get(url, headers=as_role(other, "administrator"))).status_code == 404  # another tenant's token
    sms = await office.send(phone=office.new_phone())
    message = await office.message_when(sms.booking_id, lambda m: m["status"] == "delivered", "the SMS")
    for not_a_letter in (message["id"], uuid.uuid4()):
        assert (await office.client.get(f"/tenants/{office.id}/letters/{not_a_letter}", headers=office.headers)).status_code == 404
    letters_only = await office.client.get(f"/tenants/{office.id}/messages", params={"channel": "letter"}, headers=office.headers)
    assert [m["id"] for m in letters_only.json()] == [letter["id"]]


def local_day(moment: str, zone: str) -> date:
    return datetime.fromisoformat(moment).astimezone(ZoneInfo(zone)).date()


async def test_usage_per_day_counts_each_templates_messages_sent_delivered_and_failed_on_their_days_in_the_tenants_zone(office):
    await office.announce(time_zone="Pacific/Auckland")  # far from UTC: a UTC day would put the evening's messages on the wrong day
    notices = [await office.send(phone=office.new_phone()) for _ in range(2)]
    released = await office.send("booking-released", phone=office.new_phone())
    unreachable = await office.send()  # neither phone nor address: failed at once
    logged = [await office.message_when(r.booking_id, lambda m: m["status"] in ("delivered", "failed"), "the message")
              for r in (*notices, released, unreachable)]
    expected: Counter = Counter()
    for m in logged:
        for kind in ("sent", "delivered", "failed"):
            if m[f"{kind}_at"]:
                expected[(local_day(m[f"{kind}_at"], "Pacific/Auckland"), m["template_key"], m["channel"], kind)] += 1
    assert sum(n for (_, _, _, kind), n in expected.items() if kind == "failed") == 1
    today = datetime.now(ZoneInfo("Pacific/Auckland")).date()
    url = f"/tenants/{office.id}/usage/daily"

    answer = await office.client.get(url, params={"from": str(today - timedelta(days=29)), "to": str(today)}, headers=as_role(office.id, "planner"))
    assert answer.status_code == 200, answer.text
    counted = Counter()
    for row in answer.json():
        for kind in ("sent", "delivered", "failed"):
            if row[kind]:
                counted[(date.fromisoformat(row["day"]), row["template_key"], row["channel"], kind)] += row[kind]
    assert counted == expected
    assert {row["template_key"] for row in answer.json()} == {"booking-notice", "booking-released"}

    before = await office.client.get(url, params={"from": str(today - timedelta(days=40)), "to": str(today - timedelta(days=2))}, headers=office.headers)
    assert before.json() == []
    other = new_tenant()
    assert (await office.client.get(f"/tenants/{other}/usage/daily", params={"from": str(today), "to": str(today)},
                                    headers=as_role(other, "planner"))).json() == []
    backwards = await office.client.get(url, params={"from": str(today), "to": str(today - timedelta(days=1))}, headers=office.headers)
    too_long = await office.client.get(url, params={"from": "2030-01-01", "to": "2031-06-01"}, headers=office.headers)
    for refused in (backwards, too_long):
        assert (refused.status_code, refused.headers["content-type"], refused.json()["code"]) == (422, "application/problem+json", "invalid-input")
    assert (await office.client.get(url, params={"from": "yesterday", "to": str(today)}, headers=office.headers)).status_code == 422
    for role in ("receptionist", "technician"):
        assert (await office.client.get(url, params={"from": str(today), "to": str(today)}, headers=as_role(office.id, role))).status_code == 403


async def test_an_invalid_template_is_a_problem_naming_the_field_line_and_reason(office):
    answer = await office.client.put(f"/tenants/{office.id}/templates/booking-notice/email/sv",
                                     json={"subject": "Tid {{ service }}", "body": "Hej!\n\nDin tid: {{ starttid }}"}, headers=office.headers)
    assert (answer.status_code, answer.headers["content-type"]) == (422, "application/problem+json")
    problem = answer.json()
    assert (problem["type"], problem["status"], problem["code"]) == ("urn:bookflow:problem:template-invalid", 422, "template-invalid")
    assert (problem["field"], problem["line"]) == ("body", 3)
    assert problem["reason"].startswith("unknown placeholder 'starttid'")
    assert problem["errors"] == [{"field": "body.body", "message": f"line 3: {problem['reason']}"}]
    subject = await office.client.put(f"/tenants/{office.id}/templates/booking-notice/email/sv",
                                      json={"subject": "Tid {% if %}", "body": "Hej"}, headers=office.headers)
    assert (subject.json()["field"], subject.json()["line"]) == ("subject", 1)
