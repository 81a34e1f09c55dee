"""The check-in page in a real browser (headless Chromium) on a phone-sized screen: the customer
corrects the contact details, leaves a comment with a photo, sees a refused file explained on
the page (wrong type, too large), chooses optional services and sends the check-in."""
from __future__ import annotations

import asyncio
import contextlib
import shutil

import pytest
import uvicorn
from playwright.async_api import async_playwright

from bookflow_devstack.infra import free_port
from bookflow_devstack.testing import wait_until

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 3, "is_mobile": True, "has_touch": True,
         "locale": "nl-NL"}


@contextlib.asynccontextmanager
async def served(app):
    """The service's app (already started by the module's fixture) on a real local port."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=False, lifespan="off"))
    task = asyncio.create_task(server.serve())
    await wait_until(lambda: server.started or task.done(), what="the page's server to start")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


@pytest.fixture
def files(tmp_path, media):
    (tmp_path / "dashboard.jpg").write_bytes(media.jpeg(40_000))
    (tmp_path / "factuur.jpg").write_bytes(b"%PDF-1.7\nnot a photo at all\n" * 50)
    (tmp_path / "film.jpg").write_bytes(media.jpeg(media.max_file + 20_000))
    return tmp_path


async def test_a_customer_checks_in_on_a_phone_with_a_photo_and_sees_refused_files_explained(workshop, files):
    garage = await workshop.garage()
    booking = await workshop.book(garage)
    link = await workshop.checkin_link(garage, booking)
    async with served(workshop.client._transport.app) as base, async_playwright() as p:  # noqa: SLF001
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        try:
            page = await (await browser.new_context(**PHONE)).new_page()
            await page.goto(f"{base}{link}")
            assert await page.title() == "Online check-in"
            await page.get_by_role("heading", name="Welkom, Jan de Vries").wait_for()
            assert await page.evaluate("document.documentElement.scrollWidth") <= 390  # nothing wider than the phone

            await page.get_by_label("E-mail", exact=True).first.check()
            await page.get_by_label("Mobiel nummer").fill("+31687654321")
            await page.get_by_role("button", name="Mijn gegevens opslaan").click()
            await page.get_by_text("Bedankt, we hebben uw nieuwe gegevens doorgegeven.").first.wait_for()

            await page.get_by_label("Onderwerp").fill("Lampje motorstoring")
            await page.get_by_label("Omschrijving").fill("Brandt sinds vorige week oranje.")
            await page.get_by_label("Foto's of video's").set_input_files(files / "dashboard.jpg")
            await page.get_by_role("button", name="Opmerking toevoegen").click()
            await page.get_by_text("Uw opmerking is toegevoegd.").wait_for()
            assert await page.locator(".comment .file", has_text="dashboard.jpg").count() == 1

            await page.get_by_label("Onderwerp").fill("Factuur van vorige keer")
            await page.get_by_label("Foto's of video's").set_input_files([files / "factuur.jpg", files / "film.jpg"])
            await page.get_by_role("button", name="Opmerking toevoegen").click()
            alert = page.get_by_role("alert")
            await alert.wait_for()
            text = await alert.inner_text()
            assert "Uw opmerking is niet toegevoegd vanwege de bestanden hieronder." in text
            assert "‘factuur.jpg’ is geen foto of video die we kunnen ontvangen" in text
            assert await page.get_by_label("Onderwerp").input_value() == "Factuur van vorige keer"  # kept for another try
            await page.get_by_label("Foto's of video's").set_input_files(files / "film.jpg")
            await page.get_by_role("button", name="Opmerking toevoegen").click()
            await page.get_by_text("‘film.jpg’ is groter dan 200 kB.").wait_for()

            await page.locator(".service", has_text="Wasbeurt").get_by_label("Ja, graag toevoegen").check()
            await page.locator(".service", has_text="Binnenreiniging").get_by_label("Neem hierover contact met mij op").check()
            await page.get_by_role("button", name="Check-in versturen").click()
            await page.get_by_text("Bedankt, uw check-in is verstuurd naar Garage De Vries.").wait_for()
        finally:
            await browser.close()

    view = await workshop.appointment(garage, booking.booking_id)
    assert [c["subject"] for c in view["comments"]] == ["Lampje motorstoring"]
    assert [f["name"] for f in view["comments"][0]["files"]] == ["dashboard.jpg"]
    assert sorted((i["kind"], i["service"]) for i in view["items"]) == [
        ("accepted-service", "carwash"), ("comment", None), ("contact-request", "interior")]
    [change] = await workshop.published(garage, "booking.commands", "booking.change-customer-contact")
    assert (change["preferred_channel"], change["phone"]) == ("email", "+31687654321")
    [answered] = await workshop.published(garage, "checkin.events", "checkin.answered", booking_id=booking.booking_id)
    assert (answered["accepted_services"], answered["contact_requests"], answered["comments"]) == (["carwash"], ["interior"], 1)
