"""C2, C3, C7 from the customer's side: the check-in page behind the signed link, in the
customer's language; the welcome step's contact change goes to booking as a command; sending
the page makes items and tells booking's log. Links that were tampered with, are for something
else or have expired open nothing, and a client that keeps trying is told to wait."""
import re
import time
import uuid

import httpx

import pytest
from babel.messages.pofile import read_po
from itsdangerous import TimestampSigner, URLSafeTimedSerializer

from bookflow_checkin import i18n
from bookflow_checkin.app import create_app
from bookflow_checkin.handlers import CHECKIN
from bookflow_contracts import LANGUAGES
from bookflow_runtime import development
from bookflow_runtime.auth import sign_link


async def test_the_page_shows_the_appointment_vehicle_customer_planned_work_and_optional_services(workshop):
    garage = await workshop.garage()
    booking = await workshop.book(garage)
    page = await workshop.client.get(await workshop.checkin_link(garage, booking))
    assert page.status_code == 200
    text = page.text
    for shown in ("Garage De Vries", "Welkom, Jan de Vries", "GX-123-B", "Volkswagen Golf", "Industrieweg 4, 3542 AD Utrecht",
                  "APK-keuring", "Olie verversen", "5W-30, 4,5 liter", "€\xa089,95", "Prijs incl. btw",
                  "Wasbeurt", "Buitenkant wassen en drogen.", "https://garage.example/wassen", "€\xa019,95",
                  "Binnenreiniging", "Ruitenwissers vervangen", "Neem hierover contact met mij op", "Onderwerp", "Omschrijving",
                  "Foto's of video's", "+31612345678", "jan@example.nl", "+31201234567", "balie@garage.example"):
        assert shown in text, shown
    assert "APK-keuring" in text and text.count('name="service:') == 9  # three choices for each of three services
    assert 'name="viewport"' in text


@pytest.mark.parametrize("language, welcome, send", [
    ("sv", "Välkommen, Jan de Vries", "Skicka incheckning"), ("nb", "Velkommen, Jan de Vries", "Send innsjekking"),
    ("da", "Velkommen, Jan de Vries", "Send check-in"), ("nl", "Welkom, Jan de Vries", "Check-in versturen"),
    ("en", "Welcome, Jan de Vries", "Send check-in"),
])
async def test_the_page_speaks_the_customers_language(workshop, language, welcome, send):
    garage = await workshop.garage(language="sv")
    booking = await workshop.book(garage, language=language)
    page = await workshop.client.get(await workshop.checkin_link(garage, booking))
    assert f'<html lang="{language}">' in page.text and welcome in page.text and send in page.text


def test_every_catalog_translates_every_text_with_the_same_placeholders():
    english = {m.id: m.string for m in read_po((i18n.LOCALES / "en/LC_MESSAGES/checkin.po").open("rb")) if m.id}
    for language in LANGUAGES:
        catalog = {m.id: m.string for m in read_po((i18n.LOCALES / f"{language}/LC_MESSAGES/checkin.po").open("rb")) if m.id}
        assert set(catalog) == set(english), language
        for msgid, text in catalog.items():
            assert text, (language, msgid)
            assert sorted(re.findall(r"%\(\w+\)s", text)) == sorted(re.findall(r"%\(\w+\)s", msgid)), (language, msgid)


async def test_the_welcome_step_sends_the_contact_change_to_booking_and_shows_its_outcome(workshop):
    garage = await workshop.garage()
    booking = await workshop.book(garage, channel="sms")
    link = await workshop.checkin_link(garage, booking)

    saved = await workshop.client.post(f"{link}/contact", data={"preferred_channel": "email", "phone": "+31687654321",
                                                                "email": "jan@example.nl"})
    assert saved.status_code == 303 and saved.headers["location"].endswith("?done=contact#contact")
    [command] = await workshop.published(garage, "booking.commands", "booking.change-customer-contact")
    assert command["customer_id"] == str(booking.customer.customer_id) and command["booking_id"] == str(booking.booking_id)
    assert (command["phone"], command["email"], command["preferred_channel"], command["source"]) == (
        "+31687654321", None, "email", "check-in")
    page = (await workshop.client.get(f"{link}?done=contact")).text
    assert "Bedankt, we hebben uw nieuwe gegevens doorgegeven." in page and 'value="+31687654321"' in page

    await workshop.answer(garage, command["request_id"], "booking.change-customer-contact")
    view = await workshop.appointment(garage, booking.booking_id)
    await _wait_for_status(workshop, garage, booking.booking_id, "applied")
    assert "Uw gegevens zijn bijgewerkt." in (await workshop.client.get(link)).text
    assert view["customer"]["phone"] == "+31612345678"  # booking's own customer.updated brings the new one

    unchanged = await workshop.client.post(f"{link}/contact", data={"preferred_channel": "email", "phone": "+31687654321"})
    assert unchanged.status_code == 303
    again = await workshop.client.post(f"{link}/contact", data={"preferred_channel": "sms", "phone": "0612"})
    assert again.status_code == 303
    commands = await workshop.published(garage, "booking.commands", "booking.change-customer-contact", count=2)
    assert (commands[1]["phone"], commands[1]["preferred_channel"]) == ("0612", "sms")
    await workshop.answer(garage, commands[1]["request_id"], "booking.change-customer-contact", refused="not a mobile number")
    await _wait_for_status(workshop, garage, booking.booking_id, "refused")
    assert "We konden uw gegevens niet bijwerken." in (await workshop.client.get(link)).text


async def _wait_for_status(workshop, garage, booking_id, status):
    from bookflow_devstack.testing import wait_until

    async def last():
        view = await workshop.appointment(garage, booking_id)
        return view["contact_changes"] and view["contact_changes"][-1]["status"] == status

    await wait_until(last, what=f"the contact change {status}")


async def test_a_wrong_e_mail_address_is_explained_on_the_page_and_nothing_is_sent(workshop):
    garage = await workshop.garage()
    booking = await workshop.book(garage, email=None)
    link = await workshop.checkin_link(garage, booking)
    refused = await workshop.client.post(f"{link}/contact", data={"preferred_channel": "sms", "email": "not an address"})
    assert refused.status_code == 422 and "Vul een geldig e-mailadres in." in refused.text
    assert 'value="not an address"' in refused.text  # what the customer typed is kept
    no_address = await workshop.client.post(f"{link}/contact", data={"preferred_channel": "email"})
    assert no_address.status_code == 422 and "Vul een geldig e-mailadres in." in no_address.text
    assert await workshop.all_published(garage, "booking.commands", "booking.change-customer-contact", booking.booking_id) == []


async def test_sending_the_page_makes_items_and_tells_booking_the_answer(workshop):
    garage = await workshop.garage()
    booking = await workshop.book(garage)
    link = await workshop.checkin_link(garage, booking)
    sent = await workshop.client.post(f"{link}/answer", data={"service:carwash": "accept", "service:interior": "contact",
                                                               "service:wipers": "none"})
    assert sent.status_code == 303
    [answered] = await workshop.published(garage, "checkin.events", "checkin.answered", booking_id=booking.booking_id)
    assert (answered["accepted_services"], answered["contact_requests"], answered["comments"]) == (["carwash"], ["interior"], 0)
    assert answered["customer_id"] == str(booking.customer.customer_id)
    page = (await workshop.client.get(f"{link}?done=answer")).text
    assert "Bedankt, uw check-in is verstuurd naar Garage De Vries." in page
    assert re.search(r'name="service:carwash" value="accept"\s+checked', page)

    changed = await workshop.client.post(f"{link}/answer", data={"service:carwash": "none", "service:interior": "accept"})
    assert changed.status_code == 303
    answers = await workshop.published(garage, "checkin.events", "checkin.answered", booking_id=booking.booking_id, count=2)
    assert (answers[1]["accepted_services"], answers[1]["contact_requests"]) == (["interior"], [])
    view = await workshop.appointment(garage, booking.booking_id)
    assert [(i["kind"], i["service"]) for i in view["items"]] == [("accepted-service", "interior")]

    unknown = await workshop.client.post(f"{link}/answer", data={"service:teleport": "accept"})
    assert unknown.status_code == 422 and "Sommige antwoorden konden niet worden gebruikt." in unknown.text


async def test_a_cancelled_appointment_shows_its_page_closed_and_takes_no_answers(workshop):
    garage = await workshop.garage()
    booking = await workshop.book(garage)
    link = await workshop.checkin_link(garage, booking)
    await workshop.change(garage, booking, "cancelled", transition="cancel")
    page = await workshop.client.get(link)
    assert page.status_code == 200 and "De online check-in voor deze afspraak is gesloten." in page.text
    refused = await workshop.client.post(f"{link}/answer", data={"service:carwash": "accept"})
    assert refused.status_code == 409 and "De online check-in is gesloten" in refused.text
    assert await workshop.all_published(garage, "checkin.events", "checkin.answered", booking.booking_id) == []


def customer_at(workshop, address: str) -> httpx.AsyncClient:
    """A customer's browser at its own address (bad links are counted per address)."""
    app = workshop.client._transport.app  # noqa: SLF001 (the app the module's service runs)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=(address, 50000)), base_url="http://checkin.test")


async def test_a_tampered_foreign_or_unknown_link_opens_nothing(workshop, settings):
    garage = await workshop.garage()
    booking = await workshop.book(garage)
    link = await workshop.checkin_link(garage, booking)
    async with customer_at(workshop, "192.0.2.10") as browser:
        tampered = await browser.get(link[:-3] + "xyz", headers={"accept-language": "nl-NL,nl;q=0.9"})
        assert tampered.status_code == 403 and "Deze link is ongeldig." in tampered.text and "Jan" not in tampered.text
        assert (await browser.post(link[:-3] + "xyz/answer", data={"service:carwash": "accept"})).status_code == 403
        my_pages = sign_link(settings.link_secret, "my-pages", {"t": garage.id, "b": str(booking.booking_id)})
        assert (await browser.get(f"/checkin/{my_pages}")).status_code == 403
        someone_elses = sign_link(settings.link_secret, CHECKIN, {"t": "another-garage", "b": str(booking.booking_id)})
        assert (await browser.get(f"/checkin/{someone_elses}")).status_code == 403
        unknown = sign_link(settings.link_secret, CHECKIN, {"t": garage.id, "b": str(uuid.uuid4())})
        assert (await browser.get(f"/checkin/{unknown}")).status_code == 403
        assert (await browser.get("/checkin/" + "x" * 3000)).status_code == 403
        assert (await browser.get(link)).status_code == 200


class _SignedLongAgo(TimestampSigner):
    def get_timestamp(self) -> int:
        return int(time.time()) - 31 * 86400


async def test_a_link_older_than_its_lifetime_says_it_has_expired(workshop, settings):
    garage = await workshop.garage()
    booking = await workshop.book(garage)
    await workshop.checkin_link(garage, booking)
    old = URLSafeTimedSerializer(settings.link_secret, salt=f"bookflow:{CHECKIN}", signer=_SignedLongAgo).dumps(
        {"t": garage.id, "b": str(booking.booking_id)})
    async with customer_at(workshop, "192.0.2.11") as browser:
        expired = await browser.get(f"/checkin/{old}", headers={"accept-language": "sv-SE,sv;q=0.9,en;q=0.5"})
    assert expired.status_code == 403 and "Länken har gått ut." in expired.text


async def test_a_client_that_keeps_sending_bad_links_is_told_to_wait(workshop):
    garage = await workshop.garage()
    booking = await workshop.book(garage)
    good = await workshop.checkin_link(garage, booking)
    async with customer_at(workshop, "192.0.2.12") as browser:
        answers = [(await browser.get(f"/checkin/guess-{n}")).status_code for n in range(6)]
        assert answers == [403] * 5 + [429]
        waiting = await browser.get(good)
        assert waiting.status_code == 429 and int(waiting.headers["retry-after"]) > 0
        assert "Too many attempts." in waiting.text
    async with customer_at(workshop, "192.0.2.13") as neighbour:
        assert (await neighbour.get(good)).status_code == 200


async def test_the_count_of_bad_links_holds_across_replicas_and_restarts(workshop, settings):
    garage = await workshop.garage()
    good = await workshop.checkin_link(garage, await workshop.book(garage))
    replica = create_app(settings)  # another process (or this one restarted): nothing of the count in its memory
    try:
        async with customer_at(workshop, "192.0.2.14") as here, httpx.AsyncClient(
                transport=httpx.ASGITransport(app=replica, client=("192.0.2.14", 50000)), base_url="http://checkin.test") as there:
            assert [(await here.get(f"/checkin/guess-{n}")).status_code for n in range(3)] == [403] * 3
            assert [(await there.get(f"/checkin/guess-{n}")).status_code for n in range(2)] == [403] * 2
            assert (await there.get(good)).status_code == 429
            assert (await here.get(good)).status_code == 429
    finally:
        await replica.state.runtime.engine.dispose()


def test_the_development_link_secret_is_long_enough():
    assert len(development.LINK_SECRET) >= 32
