"""The staff console in headless Chromium against all services running as processes (issue 13):
each role logs in and does its work. An administrator invites a planner and edits a template
with its live preview; a planner locks a day (one order refused, with its reason), prints the
letters, sees a reply move an order and reschedules one from manual follow-up; a receptionist
sees which bookings are confirmed and one booking's delivered messages; a technician on a phone
sees only confirmed bookings; a planner of one tenant who edits the address to another tenant's
booking gets "not found"; a session that ended returns to its page after logging in. Tokens: a
technician's is refused on a planner's action, and one signed with another key by every service.

Screenshots of the main pages go to BOOKFLOW_SCREENSHOTS_DIR (docs/console in the repository
when it is set so), else to the test's own folder."""
from __future__ import annotations

import os
import shutil
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from playwright.async_api import async_playwright, expect
from pydantic import TypeAdapter

from bookflow_console import texts
from bookflow_contracts import ReplyReceived
from bookflow_devstack.infra import free_port
from bookflow_devstack.processes import CONSOLE, Stack
from bookflow_devstack.testing import daytime_zone, envelope, new_tenant, wait_until
from bookflow_runtime import development
from bookflow_runtime.auth import issue_staff_token

pytestmark = pytest.mark.system
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
OPERATOR = {"Authorization": f"Bearer {development.OPERATOR_TOKEN}"}
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="module")
def console(stack: Stack) -> str:
    """The console started beside the shared stack's services."""
    if CONSOLE not in stack.services:
        stack.ports[CONSOLE] = free_port()
        stack.prepare((CONSOLE,))
        stack.start((CONSOLE,))
    return stack.services[CONSOLE].url


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    folder = Path(os.environ.get("BOOKFLOW_SCREENSHOTS_DIR") or tmp_path_factory.mktemp("screenshots"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="module")
async def browser():
    async with async_playwright() as p:
        chromium = await p.chromium.launch(executable_path=CHROMIUM,
                                           args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        yield chromium
        await chromium.close()


class Office:
    """One tenant set up over the APIs, with the bootstrap administrator's token for setting up."""

    def __init__(self, stack: Stack, tenant_id: str, token: str, zone: str) -> None:
        self.stack, self.id, self.zone = stack, tenant_id, zone
        self.headers = {"Authorization": f"Bearer {token}"}
        self.root = stack.services["booking"].url
        self.booking = f"{self.root}/tenants/{tenant_id}"

    @classmethod
    async def open(cls, stack: Stack, name: str, **settings) -> "Office":
        tenant_id, zone = new_tenant(), daytime_zone()
        async with httpx.AsyncClient(timeout=10) as client:
            made = await client.put(f"{stack.services['booking'].url}/tenants/{tenant_id}", headers=OPERATOR,
                                    json={"name": name, "time_zone": zone, **settings})
        assert made.status_code == 200, made.text
        return cls(stack, tenant_id, made.json()["staff_token"], zone)

    async def call(self, method: str, path: str, json=None, status: int = 200, headers=None):
        async with httpx.AsyncClient(timeout=10) as client:
            url = path if path.startswith("http") else f"{self.booking}{path}"
            response = await client.request(method, url, json=json, headers=self.headers if headers is None else headers)
        assert response.status_code == status, response.text
        return response.json() if response.content else None

    async def person(self, email: str, name: str, roles: list[str], password: str, **more) -> dict:
        """An account with its password set, as an invitation and its link would make it."""
        invited = await self.call("POST", "/staff/invitations", {"email": email, "name": name, "roles": roles, **more}, 201)
        await self.call("POST", f"{self.root}/staff-login/{self.id}/links/password", {"token": invited["link"]["token"], "password": password}, headers={})
        return invited["staff"]

    def day(self, days: int = 30) -> datetime:
        return (datetime.now(UTC) + timedelta(days=days)).astimezone(ZoneInfo(self.zone)).replace(hour=8, minute=0, second=0, microsecond=0)


async def log_in(page, console: str, office: Office, email: str, password: str, next_path: str = "") -> None:
    await page.goto(f"{console}/login{'?next=' + next_path if next_path else ''}")
    await page.get_by_label("Organisation").fill(office.id)
    await page.get_by_label("E-mail").fill(email)
    await page.get_by_label("Password").fill(password)
    await page.get_by_role("button", name="Log in").click()
    await page.wait_for_load_state()


async def shoot(page, shots: Path, name: str) -> None:
    await page.screenshot(path=str(shots / f"{name}.png"), full_page=True)


# --- administrator ---------------------------------------------------------------------------


async def test_an_administrator_invites_a_planner_and_edits_a_template_with_its_preview(stack, console, browser, shots):
    office = await Office.open(stack, "Pinea Energi", flow="letter", language="sv")
    made = await office.call("POST", f"{office.root}/operator/tenants/{office.id}/administrators", {"email": "anna@pinea.se", "name": "Anna Andersson", "language": "en"},
                             201, headers=OPERATOR)
    context = await browser.new_context()
    page = await context.new_page()
    await page.goto(f"{console}/password/{office.id}/{made['link']['token']}")
    await expect(page.get_by_role("heading", name="Welcome, Anna Andersson")).to_be_visible()
    await page.locator('input[name="password"]').fill("a long admin password")
    await page.get_by_label("The same password again").fill("a long admin password")
    await page.get_by_role("button", name="Save and log in").click()
    await expect(page.get_by_text("Your password is set. Welcome!")).to_be_visible()

    # invite a planner: the one-time link is shown to hand over
    await page.get_by_role("link", name="Staff").click()
    invite = page.locator("form", has=page.get_by_role("heading", name="Invite a person"))
    await invite.get_by_label("Name").fill("Per Persson")
    await invite.get_by_label("E-mail").fill("per@pinea.se")
    await invite.get_by_label("Planner").check()
    await invite.get_by_role("button", name="Invite").click()
    await expect(page.get_by_role("heading", name="Per Persson is invited")).to_be_visible()
    link = await page.get_by_label("Set-password link").input_value()
    assert link.startswith(f"{console}/password/{office.id}/")
    await shoot(page, shots, "staff")

    # edit a template: the preview follows the text; a placeholder it does not know is refused with its line
    await page.get_by_role("link", name="Templates", exact=True).click()
    await page.locator("tr", has_text="Booking confirmation (B7)").get_by_role("link", name="Edit").click()
    await page.get_by_role("link", name="Svenska").click()
    text = page.locator('textarea[name="body"]')
    await text.fill("Hej {{ customer.first_name }}! Vi kommer {{ starts_at|datetime }}. Välkommen!")
    await expect(page.locator("#preview .preview-body")).to_contain_text("Hej Kim! Vi kommer")
    await expect(page.locator("#preview")).to_contain_text("SMS segment")
    await text.fill("Hej {{ customer.first_name }}! {{ secret_code }}")
    await page.get_by_role("button", name="Check and save").click()
    await expect(page.get_by_role("alert").first).to_contain_text("The template cannot be saved")
    await expect(page.get_by_role("alert").first).to_contain_text("line 1")
    await text.fill("Hej {{ customer.first_name }}! Vi ses {{ starts_at|datetime }}.")
    await page.get_by_role("button", name="Check and save").click()
    await expect(page.get_by_text("Saved. Messages from now on use this text.")).to_be_visible()
    await shoot(page, shots, "template")
    async with httpx.AsyncClient() as client:
        saved = (await client.get(f"{stack.services['notification'].url}/tenants/{office.id}/templates", headers=office.headers)).json()
    [confirmation] = [t for t in saved if t["template_key"] == "booking-confirmation"]
    assert [(s["channel"], s["language"], s["body"]) for s in confirmation["saved"]] == [
        ("sms", "sv", "Hej {{ customer.first_name }}! Vi ses {{ starts_at|datetime }}.")]

    # the planner sets a password with the link and starts on the work orders
    planner = await browser.new_context()
    page = await planner.new_page()
    await page.goto(link)
    await page.locator('input[name="password"]').fill("planner password 1")
    await page.get_by_label("The same password again").fill("planner password 1")
    await page.get_by_role("button", name="Save and log in").click()
    await expect(page.get_by_role("heading", name="Work orders")).to_be_visible()
    await context.close()
    await planner.close()


# --- planner ---------------------------------------------------------------------------------


async def test_a_planner_locks_a_day_prints_letters_sees_a_reply_move_an_order_and_reschedules_one(stack, console, browser, kafka, shots):
    folder = f"nett-{uuid.uuid4().hex[:8]}"
    office = await Office.open(stack, "Nettselskapet Vest", flow="letter", language="nb", reply_number="+4759440000",
                               letter_folder=folder)
    await office.person("kari@nett.no", "Kari Planlegger", ["planner"], "planner password 1")
    technician = await office.call("POST", "/technicians", {"name": "Ola Nordmann"}, 201)
    await office.call("POST", "/technicians", {"name": "Siri Hansen"}, 201)
    day = office.day()
    names = ["Ingrid Berg", "Lars Dahl", "Nora Lie", "Emil Haugen"]

    async def order(i: int, street: str | None) -> dict:
        return await office.call("POST", "/bookings", {
            "customer": {"name": names[i], "phone": f"+4791234{i:03d}", "language": "nb"}, "service": "målerbytte",
            "starts_at": (day + timedelta(hours=i)).isoformat(), "estimate": "PT1H", "technician_id": technician["id"], "sequence": i,
            "place": {"street": street, "postcode": "5003", "city": "Bergen"}}, 201)

    orders = [await order(i, f"Storgata {i + 1}") for i in range(3)]
    no_street = await order(3, None)

    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    page = await context.new_page()
    await log_in(page, console, office, "kari@nett.no", "planner password 1")
    await expect(page.get_by_role("heading", name="Work orders")).to_be_visible()
    await page.locator('select[name="technician_id"]').select_option(label="Ola Nordmann")
    await page.locator('input[name="day"]').fill(day.date().isoformat())
    await shoot(page, shots, "orders-planned")
    await page.get_by_role("button", name="Lock the day").click()
    await expect(page.get_by_role("heading", name="3 orders locked")).to_be_visible()
    refusal = page.locator("li.refusal")
    await expect(refusal).to_have_count(1)
    await expect(refusal).to_contain_text("Emil Haugen")
    await expect(refusal).to_contain_text("the street address is missing")
    await shoot(page, shots, "orders-locked")

    # B2: letters for everything ready for print, downloaded from the letters page
    await page.get_by_role("link", name="Ready for print").click()
    await page.get_by_role("button", name="Print letters for all ready for print").click()
    await expect(page.get_by_role("heading", name="3 letters are being written")).to_be_visible()

    async def letters_written():
        await page.goto(f"{console}/letters")
        return await page.get_by_role("link", name="Download").count() == 3

    await wait_until(letters_written, timeout=40, what="three letters written")
    await shoot(page, shots, "letters")
    async with page.expect_download() as download:
        await page.get_by_role("link", name="Download").first.click()
    assert (await (await download.value).path()).read_bytes().startswith(b"%PDF")

    # B3: the customers answer by SMS with their codes
    codes = {b["id"]: b["booking_code"] for b in [await office.call("GET", f"/bookings/{o['id']}") for o in orders]}
    ok, contact, silent = orders
    for booking, answer in ((ok, "OK"), (contact, "KONTAKT, jeg er bortreist")):
        await kafka.publish_envelope(envelope(ReplyReceived(
            reply_id=uuid.uuid4(), channel="sms", sender=booking["phone"], recipient="+4759440000",
            text=f"{codes[booking['id']]} {answer}", received_at=datetime.now(UTC), provider="sandbox"), office.id))

    async def moved():
        await page.goto(f"{console}/orders?state=ready-for-execution")
        return await page.locator("table.orders tr", has_text="Ingrid Berg").count() == 1

    await wait_until(moved, timeout=40, what="the OK reply to move the order to ready for execution")
    await page.get_by_role("link", name="Manual follow-up").click()
    row = page.locator("table.orders tr", has_text="Lars Dahl")
    await expect(row).to_be_visible()
    await shoot(page, shots, "orders-manual-follow-up")

    # B7: reschedule from manual follow-up
    await row.get_by_role("link", name="Reschedule or hold").click()
    reschedule = page.locator("details", has_text="Reschedule")
    await reschedule.get_by_label("Time").fill("14:30")
    await reschedule.get_by_label("Minutes").fill("45")
    await reschedule.get_by_label("Technician").select_option(label="Siri Hansen")
    await reschedule.get_by_label("Reason (for the history)").fill("Kunden er hjemme etter 14")
    await reschedule.get_by_role("button", name="Reschedule").click()
    await expect(page.get_by_role("status")).to_contain_text("Done: reschedule")
    await expect(page.locator("ol.timeline li").first).to_contain_text("Rescheduled")
    await expect(page.locator("ol.timeline li").first).to_contain_text("Kunden er hjemme etter 14")
    await shoot(page, shots, "booking-planner")
    moved_order = await office.call("GET", f"/bookings/{contact['id']}")
    assert moved_order["state"] == "manual-follow-up"
    assert datetime.fromisoformat(moved_order["starts_at"]).astimezone(ZoneInfo(office.zone)).strftime("%H:%M") == "14:30"
    await context.close()


# --- receptionist and technician -------------------------------------------------------------


async def test_a_receptionist_sees_who_confirmed_and_a_bookings_delivered_messages_and_a_technician_on_a_phone_only_confirmed(
        stack, console, browser, shots):
    office = await Office.open(stack, "Kliniken Söder", flow="confirmation", language="sv", channels=["sms"])
    technician = await office.call("POST", "/technicians", {"name": "Tove Tekniker"}, 201)
    await office.person("rut@kliniken.se", "Rut Receptionist", ["receptionist"], "reception password", language="sv")
    await office.person("tove@kliniken.se", "Tove Tekniker", ["technician"], "technician password", language="nb",
                        technician_id=technician["id"])
    day = office.day(days=20)
    made = []
    for i, name in enumerate(("Åsa Öberg", "Bengt Ek", "Cecilia Lund")):
        made.append(await office.call("POST", "/bookings", {
            "customer": {"name": name, "phone": f"+4670123{i:04d}", "language": "sv"}, "service": "tandkontroll",
            "starts_at": (day + timedelta(hours=i)).isoformat(), "estimate": "PT45M", "technician_id": technician["id"],
            "place": {"street": "Götgatan 1", "postcode": "118 46", "city": "Stockholm"}}, 201))
    confirmed, open_one, _ = made
    await office.call("POST", f"/bookings/{confirmed['id']}/transitions/confirm", {"reason": "ringde och bekräftade"})

    async def delivered():
        async with httpx.AsyncClient() as client:
            log = (await client.get(f"{stack.services['notification'].url}/tenants/{office.id}/messages",
                                    params={"booking_id": confirmed["id"]}, headers=office.headers)).json()
        return [m for m in log if m["status"] == "delivered"]

    await wait_until(delivered, timeout=40, what="the booking notice delivered")

    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    page = await context.new_page()
    await log_in(page, console, office, "rut@kliniken.se", "reception password", next_path=f"/day?date={day.date().isoformat()}")
    sv = lambda text: texts.gettext("sv", text)  # noqa: E731 (Rut's console speaks Swedish)
    yes = page.locator("li.booking.is-confirmed")
    await expect(yes).to_have_count(1)
    await expect(yes).to_contain_text("Åsa Öberg")
    await expect(yes).to_contain_text(sv("Confirmed"))
    await expect(page.locator("li.booking.is-open")).to_have_count(2)
    await expect(page.locator("li.booking.is-open", has_text="Bengt Ek")).to_contain_text(sv("Not confirmed"))
    await shoot(page, shots, "day-receptionist")
    await yes.get_by_role("link").click()
    message = page.locator("tr.message", has_text=texts.gettext("sv", texts.TEMPLATES["booking-notice"]))
    await expect(message).to_contain_text(sv("Delivered"))
    await expect(page.locator("ol.timeline")).to_contain_text("ringde och bekräftade")
    await shoot(page, shots, "booking-receptionist")
    await context.close()

    phone = await browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    page = await phone.new_page()
    await log_in(page, console, office, "tove@kliniken.se", "technician password", next_path=f"/work?date={day.date().isoformat()}")
    await expect(page.get_by_role("heading", level=1)).to_contain_text(texts.gettext("nb", "My work list"))
    visits = page.locator("li.visit")
    await expect(visits).to_have_count(1)
    await expect(visits).to_contain_text("Åsa Öberg")
    await expect(page.get_by_text("Bengt Ek")).to_have_count(0)
    assert await page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    await shoot(page, shots, "work-list-phone")
    await page.goto(f"{console}/bookings/{open_one['id']}")  # not on their list: not theirs to see
    await expect(page.get_by_role("heading", level=1)).to_have_text(texts.gettext("nb", "Not found"))
    await phone.close()


# --- tenants, sessions and tokens ------------------------------------------------------------


async def test_a_planner_who_edits_the_address_to_another_tenants_booking_gets_not_found(stack, console, browser):
    mine = await Office.open(stack, "Pinea", flow="letter")
    theirs = await Office.open(stack, "Konkurrenten", flow="letter")
    await mine.person("pia@pinea.se", "Pia Planerare", ["planner"], "planner password 2")
    other = await theirs.call("POST", "/bookings", {"customer": {"name": "Hemlig Kund", "email": "hemlig@example.se"}, "service": "mätarbyte",
                                                    "starts_at": theirs.day().isoformat(), "estimate": "PT1H"}, 201)
    context = await browser.new_context()
    page = await context.new_page()
    await log_in(page, console, mine, "pia@pinea.se", "planner password 2")
    response = await page.goto(f"{console}/bookings/{other['id']}")
    assert response.status == 404
    await expect(page.get_by_role("heading", level=1)).to_have_text("Not found")
    await expect(page.get_by_text("Hemlig Kund")).to_have_count(0)
    await context.close()


async def test_a_session_that_ended_returns_to_its_page_after_logging_in(stack, console, browser):
    office = await Office.open(stack, "Pinea", flow="letter")
    await office.person("pelle@pinea.se", "Pelle Planerare", ["planner"], "planner password 3")
    context = await browser.new_context()
    page = await context.new_page()
    await log_in(page, console, office, "pelle@pinea.se", "planner password 3")
    await context.clear_cookies()
    await page.goto(f"{console}/orders?state=manual-follow-up")
    assert "/login?next=/orders" in page.url
    await page.get_by_label("Organisation").fill(office.id)
    await page.get_by_label("E-mail").fill("pelle@pinea.se")
    await page.get_by_label("Password").fill("planner password 3")
    await page.get_by_role("button", name="Log in").click()
    await expect(page.get_by_role("link", name="Manual follow-up")).to_have_attribute("aria-current", "page")
    await context.close()


async def test_a_technicians_token_is_refused_on_a_planners_action(stack):
    office = await Office.open(stack, "Pinea", flow="letter")
    technician = await office.call("POST", "/technicians", {"name": "Ola"}, 201)
    await office.person("ola@pinea.se", "Ola", ["technician"], "technician password", technician_id=technician["id"])
    async with httpx.AsyncClient() as client:
        logged_in = (await client.post(f"{stack.services['booking'].url}/staff-login/{office.id}/sessions", json={"email": "ola@pinea.se", "password": "technician password"})).json()
        refused = await client.post(f"{office.booking}/orders/lock", headers={"Authorization": f"Bearer {logged_in['token']}"},
                                    json={"technician_id": technician["id"], "day": office.day().date().isoformat()})
        work = await client.get(f"{office.booking}/technicians/{technician['id']}/work-list", params={"day": office.day().date().isoformat()},
                                headers={"Authorization": f"Bearer {logged_in['token']}"})
    assert (refused.status_code, refused.json()["code"]) == (403, "forbidden")
    assert work.status_code == 200


async def test_a_token_signed_with_another_key_is_refused_by_every_service(stack):
    office = await Office.open(stack, "Pinea", flow="letter")
    stranger = Ed25519PrivateKey.generate().private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                          serialization.NoEncryption()).decode()
    forged = {"Authorization": f"Bearer {issue_staff_token(stranger, office.id, 'mallory', ('administrator',))}"}
    genuine = {"Authorization": f"Bearer {issue_staff_token(development.STAFF_TOKEN_PRIVATE_KEY, office.id, 'alice', ('administrator',))}"}
    # Every service's staff routes; recall and the scheduler have none on main yet (see the console's README).
    routes = [("booking", f"/tenants/{office.id}/bookings"), ("booking", f"/tenants/{office.id}/staff"),
              ("notification", f"/tenants/{office.id}/messages"), ("notification", f"/tenants/{office.id}/templates"),
              ("checkin", f"/tenants/{office.id}/appointments")]
    async with httpx.AsyncClient(timeout=10) as client:
        for service, path in routes:
            url = f"{stack.services[service].url}{path}"
            assert (await client.get(url, headers=forged)).status_code == 401, url
            assert (await client.get(url, headers=genuine)).status_code == 200, url


# --- settings, usage and customers -----------------------------------------------------------


async def test_an_administrator_changes_the_business_its_flow_timings_and_contact_details(stack, console, browser, shots):
    office = await Office.open(stack, "Salong Klipp", flow="none", language="sv")
    await office.person("ada@klipp.se", "Ada Admin", ["administrator"], "admin password 12")
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    page = await context.new_page()
    await log_in(page, console, office, "ada@klipp.se", "admin password 12", next_path="/settings")
    business = page.locator("form", has=page.get_by_role("heading", name="Business, flow and timings"))
    await business.get_by_label("Name", exact=True).fill("Salong Klipp & Färg")
    await business.get_by_label("Flow of new bookings").select_option("confirmation")
    await business.get_by_label("Reminder to confirm: how many").fill("36")
    await business.get_by_label("Reminder to confirm: unit").select_option("hours")
    await business.get_by_label("Phone").fill("08-123 45 67")
    await business.get_by_label("Website").fill("klipp.se")
    await business.get_by_label("Number customers reply to").fill("+46701112233")
    await business.get_by_label("Time zone").fill("Mars/Olympus_Mons")  # not a zone: refused in words, what was typed kept
    await business.get_by_role("button", name="Save").click()
    await expect(page.get_by_role("alert")).to_contain_text("Time zone")
    await expect(business.get_by_label("Phone")).to_have_value("08-123 45 67")
    await business.get_by_label("Time zone").fill("Europe/Stockholm")
    await business.get_by_role("button", name="Save").click()
    await expect(page.get_by_text("Saved. New bookings and messages follow these settings.")).to_be_visible()
    await expect(page.locator("header .brand")).to_contain_text("Salong Klipp & Färg")
    await shoot(page, shots, "settings")
    tenant = await office.call("GET", "")
    assert (tenant["name"], tenant["flow"], TypeAdapter(timedelta).validate_python(tenant["reminder_before"]), tenant["time_zone"]) == (
        "Salong Klipp & Färg", "confirmation", timedelta(hours=36), "Europe/Stockholm")
    assert (tenant["phone"], tenant["website"], tenant["reply_number"], tenant["email"]) == ("08-123 45 67", "klipp.se", "+46701112233", None)
    await expect(business.get_by_label("Reminder to confirm: how many")).to_have_value("36")
    await context.close()


async def test_a_planner_reads_usage_per_day_and_message_and_finds_a_customer_whose_channel_and_consent_they_change(
        stack, console, browser, shots):
    office = await Office.open(stack, "Kliniken Norr", flow="confirmation", language="sv", channels=["sms", "email"])
    await office.person("pia@norr.se", "Pia Planerare", ["planner"], "planner password 9")
    booking = await office.call("POST", "/bookings", {
        "customer": {"name": "Åsa Öberg", "phone": "+46701239876", "email": "asa@example.se", "customer_number": "K-1001", "language": "sv"},
        "service": "tandkontroll", "starts_at": office.day(days=20).isoformat(), "estimate": "PT45M"}, 201)

    async def delivered():
        card = await office.call("GET", f"/customers/{booking['customer_id']}")
        return [e for e in card["communication_log"] if e["message"] and e["message"]["status"] == "delivered"]

    await wait_until(delivered, timeout=40, what="the booking notice delivered")
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    page = await context.new_page()
    await log_in(page, console, office, "pia@norr.se", "planner password 9", next_path="/usage")
    per_message = page.locator("table.per-template tr", has_text="Booking notice (A1)")
    await expect(per_message).to_contain_text("SMS")
    assert [await c.inner_text() for c in await per_message.locator("td.num").all()] == ["1", "1", "0"]
    await expect(page.locator(".legend")).to_contain_text("Sent: 1")
    await shoot(page, shots, "usage")

    await page.get_by_role("link", name="Customers").click()
    for words in ("berg", "K-1001", "+46701239876", "ASA@example.se"):
        await page.get_by_label("Name, phone, e-mail or customer number").fill(words)
        await page.get_by_role("button", name="Search").click()
        await expect(page.locator("table.customers tbody tr")).to_have_count(1)
    await page.get_by_label("Name, phone, e-mail or customer number").fill("Ingen Sådan")
    await page.get_by_role("button", name="Search").click()
    await expect(page.get_by_text("No customer matches")).to_be_visible()
    await page.get_by_label("Name, phone, e-mail or customer number").fill("Åsa")
    await page.get_by_role("button", name="Search").click()
    await page.get_by_role("link", name="Åsa Öberg").click()
    await expect(page.get_by_role("heading", level=1)).to_contain_text("Åsa Öberg")
    await expect(page.locator("ul.bookings")).to_contain_text("tandkontroll")
    await expect(page.locator("tr.message", has_text="Booking notice (A1)")).to_contain_text("Delivered")
    await expect(page.get_by_text("The customer has not been asked yet.")).to_be_visible()
    await page.get_by_label("Preferred channel").select_option("email")
    await page.get_by_label("The customer wants them").check()
    await page.get_by_role("button", name="Save").click()
    await expect(page.get_by_role("status")).to_contain_text("Saved.")
    await expect(page.get_by_label("Preferred channel")).to_have_value("email")
    await shoot(page, shots, "customer")
    card = await office.call("GET", f"/customers/{booking['customer_id']}")
    assert (card["preferred_channel"], card["marketing_consent"], card["consent_source"], card["phone"]) == ("email", True, "staff", "+46701239876")
    await page.evaluate("document.querySelector('input[name=email]').type = 'text'")  # past the browser's own check: the service's answer
    await page.get_by_role("textbox", name="E-mail").fill("not an address")
    await page.get_by_role("button", name="Save").click()
    await expect(page.get_by_role("alert")).to_contain_text("E-mail")
    await context.close()
