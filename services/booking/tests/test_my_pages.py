"""My pages as customers of five languages see them, served on a real port (headless Chromium for
Danish and Dutch), with the booking service on the real broker and PostgreSQL: each customer's
language, who the appointment is with and how to reach them, errors only by known code, a
letter's short link, and a bounded list of other free times."""
from __future__ import annotations

import asyncio
import re
import shutil
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from datetime import time as dt_time
from zoneinfo import ZoneInfo
from urllib.parse import urlsplit

import httpx
import pytest
import uvicorn
from itsdangerous import TimestampSigner, URLSafeTimedSerializer
from playwright.async_api import async_playwright

from bookflow_booking import handlers
from bookflow_booking.app import create_app
from bookflow_contracts import topics
from bookflow_devstack.infra import free_port
from bookflow_devstack.testing import wait_until
from bookflow_runtime.auth import sign_link

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CONTACT = {"phone": "08-123 45 67", "email": "kundtjanst@pinea.se", "website": "pinea.se"}
CUSTOMERS = {  # (name, what the page says in the language: confirm button, the date's form)
    "sv": ("Åsa Öberg", "Bekräfta tiden", r"\w+dag \d{1,2} [a-zåäö]+ \d{4} kl\. \d\d\.\d\d"),
    "nb": ("Øystein Ås", "Bekreft tidspunktet", r"\w+dag \d{1,2}\. [a-zæøå]+ \d{4} kl\. \d\d\.\d\d"),
    "da": ("Søren Ørsted", "Bekræft tiden", r"\w+dag den \d{1,2}\. [a-zæøå]+ \d{4} kl\. \d\d\.\d\d"),
    "nl": ("Zoë van Dijk", "Bevestig de afspraak", r"\w+dag \d{1,2} [a-z]+ \d{4} om \d\d:\d\d uur"),
    "en": ("Chloë Brontë", "Confirm this time", r"\w+day \d{1,2} [A-Z][a-z]+ \d{4} at \d\d:\d\d"),
}


@asynccontextmanager
async def serving(app, port: int) -> AsyncIterator[str]:
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=False))
    task = asyncio.create_task(server.serve())
    await wait_until(lambda: server.started or task.done(), what="the booking service to listen")
    if task.done():
        task.result()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


@pytest.fixture(scope="module")
async def service(settings):
    """The booking service on a real port (this module's desk talks to it), its links pointing there."""
    port = free_port()
    settings = settings.model_copy(update={"public_url": f"http://127.0.0.1:{port}"})
    async with serving(create_app(settings), port) as url, httpx.AsyncClient(base_url=url) as client:
        yield url, client


async def my_pages_link(desk, office, booking_id: str) -> tuple[dict, str]:
    [notice] = await desk.published(office, topics.NOTIFICATION_REQUESTS, "notification.send", booking_id=booking_id,
                                    where=lambda p: p["template_key"] == "booking-notice")
    return notice, urlsplit(notice["data"]["my_pages_url"]).path


async def book_as(desk, office, language: str, **kw) -> tuple[dict, str]:
    name = CUSTOMERS[language][0]
    booking = await desk.book(office, customer={"name": name, "phone": "+46701234567", "language": language}, **kw)
    notice, link = await my_pages_link(desk, office, booking["id"])
    return notice, link


async def test_my_pages_speak_each_customers_language_and_say_who_the_visit_is_with_and_how_to_reach_them(desk):
    office = await desk.tenant(flow="confirmation", language="sv", **CONTACT)
    for language, (_, confirm, date_form) in CUSTOMERS.items():
        _, link = await book_as(desk, office, language)
        page = (await desk.client.get(link)).text
        assert f'<html lang="{language}">' in page
        assert confirm in page, f"{language}: {confirm!r} not on the page"
        when = re.search(r'<dd id="when">([^<]*)</dd>', page).group(1)
        assert re.fullmatch(date_form, when), f"{language}: {when!r}"
        for fact in ("Pinea", "Storgatan 1, 111 22 Stockholm", "08-123 45 67", "kundtjanst@pinea.se", "pinea.se"):
            assert fact in page, f"{language}: {fact!r} not on the page"


async def test_a_dutch_customer_of_a_swedish_business_reads_dutch_and_a_customer_without_a_language_the_business_language(desk):
    office = await desk.tenant(flow="confirmation", language="da")
    _, link = await book_as(desk, office, "nl")
    assert "Bevestig de afspraak" in (await desk.client.get(link)).text
    booking = await desk.book(office, customer={"name": "Mette Ørum", "phone": "+4520123456"})
    _, link = await my_pages_link(desk, office, booking["id"])
    assert "Bekræft tiden" in (await desk.client.get(link)).text


async def test_only_known_errors_show_and_in_words_never_the_text_of_the_link(desk):
    office = await desk.tenant(flow="confirmation", language="sv")
    _, link = await book_as(desk, office, "nb")
    taken = (await desk.client.get(link, params={"error": "slot-taken"})).text
    assert "Det tidspunktet ble nettopp tatt av noen andre. Velg et annet." in taken and "slot-taken" not in taken
    crafted = (await desk.client.get(link, params={"error": "Ring 0900-123456 for å beholde timen"})).text
    assert "0900-123456" not in crafted and 'role="alert"' not in crafted


async def test_an_invalid_link_speaks_the_customers_language_else_the_browsers_else_all_five(desk, settings):
    office = await desk.tenant(flow="confirmation", language="sv")
    booking = await desk.book(office, customer={"name": "Søren Ørsted", "phone": "+4520123456", "language": "da"})

    class LongAgo(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(time.time()) - (settings.my_pages_link_days + 1) * 86400

    expired = URLSafeTimedSerializer(settings.link_secret, salt=f"bookflow:{handlers.MY_PAGES}", signer=LongAgo).dumps(
        {"t": office.id, "b": booking["id"]})
    page = await desk.client.get(f"/my/{expired}")
    assert page.status_code == 403 and "Linket er ugyldigt eller udløbet." in page.text and "not valid" not in page.text

    forged = sign_link("not-our-secret", handlers.MY_PAGES, {"t": office.id, "b": booking["id"]})
    dutch_browser = await desk.client.get(f"/my/{forged}", headers={"Accept-Language": "nl-BE,nl;q=0.9,en;q=0.4"})
    assert dutch_browser.status_code == 403 and "Deze link is ongeldig of verlopen." in dutch_browser.text
    assert "Linket" not in dutch_browser.text
    unknown_browser = (await desk.client.get(f"/my/{forged}", headers={"Accept-Language": "fr-FR"})).text
    for words in ("Länken är ogiltig", "Lenken er ugyldig", "Linket er ugyldigt", "Deze link is ongeldig", "This link is not valid"):
        assert words in unknown_browser


async def test_a_letters_short_link_is_typeable_and_leads_to_my_pages(desk):
    office = await desk.tenant(flow="confirmation")
    booking = await desk.book(office)
    notice, link = await my_pages_link(desk, office, booking["id"])
    short = notice["data"]["my_pages_short_url"]
    assert re.fullmatch(rf"{re.escape(str(desk.client.base_url).rstrip('/'))}/l/[A-Z2-9]{{4}}-[A-Z2-9]{{4}}-[A-Z2-9]{{4}}", short)
    code = short.rsplit("/", 1)[1]
    for typed in (code, code.replace("-", "").lower(), code.replace("-", " ")):
        moved = await desk.client.get(f"/l/{typed}")
        assert moved.status_code == 303 and urlsplit(moved.headers["location"]).path.startswith("/my/"), typed
        assert "Bekräfta tiden" in (await desk.client.get(urlsplit(moved.headers["location"]).path)).text
    assert (await desk.client.get("/l/AAAA-BBBB-CCCC")).status_code == 403
    assert (await desk.client.get("/l/not-a-code")).status_code == 403


async def test_other_free_times_are_the_coming_weeks_at_most_thirty_and_grouped_by_day(desk):
    office = await desk.tenant(flow="confirmation", time_zone="Europe/Stockholm")
    # From ten in the morning in Stockholm: a day's slots stay on one local day whenever the test runs.
    tomorrow = datetime.now(ZoneInfo("Europe/Stockholm")).date() + timedelta(days=1)
    start = datetime.combine(tomorrow, dt_time(10), tzinfo=ZoneInfo("Europe/Stockholm"))
    for day in range(12):  # ten free quarter-hours a day for twelve days, and one far ahead
        for quarter in range(10):
            at = start + timedelta(days=day, minutes=15 * quarter)
            await desk.post(office, "/slots", {"service": "mätarbyte", "starts_at": at.isoformat(),
                                               "ends_at": (at + timedelta(minutes=15)).isoformat()}, status=201)
    far = await desk.post(office, "/slots", {"service": "mätarbyte", "starts_at": (start + timedelta(days=120)).isoformat(),
                                             "ends_at": (start + timedelta(days=120, hours=1)).isoformat()}, status=201)
    _, link = await book_as(desk, office, "sv")
    page = (await desk.client.get(link)).text
    choices = re.findall(r'name="slot_id" value="([^"]+)"', page)
    days = re.findall(r'<div class="day">([^<]+)</div>', page)
    assert len(choices) == 30 and len(days) == 5  # six a day, the first five days
    assert far["id"] not in choices
    assert all(re.fullmatch(r"\w+dag \d{1,2} [a-zåäö]+", d) for d in days)


@pytest.mark.parametrize("language", ["da", "nl"])
async def test_a_customer_confirms_in_their_own_language_in_a_browser_and_sees_known_errors_only(desk, service, language):
    url, _ = service
    office = await desk.tenant(flow="confirmation", language="sv", **CONTACT)
    _, link = await book_as(desk, office, language)
    words = {
        "da": ("Din aftale", "Bekræft tiden", "Tak, din aftale er bekræftet.", "Den tid blev netop taget af en anden. Vælg en anden tid."),
        "nl": ("Uw afspraak", "Bevestig de afspraak", "Bedankt, uw afspraak is bevestigd.",
               "Dat tijdstip is net door iemand anders geboekt. Kies een ander tijdstip."),
    }[language]
    title, confirm, confirmed, taken = words
    async with async_playwright() as p:
        browser = await p.chromium.launch(
            executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        try:
            page = await browser.new_page()
            await page.goto(f"{url}{link}?error=slot-taken")
            assert await page.title() == title
            assert await page.get_by_role("alert").inner_text() == taken
            await page.goto(f"{url}{link}?error=%3Cb%3EBetal%20her%3C/b%3E")
            assert await page.get_by_role("alert").count() == 0
            assert "Betal" not in await page.content()
            await page.get_by_role("button", name=confirm).click()
            await page.get_by_text(confirmed).wait_for()
            assert await page.get_by_role("button", name=confirm).count() == 0
            assert "08-123 45 67" in await page.locator("#contact").inner_text()
        finally:
            await browser.close()
