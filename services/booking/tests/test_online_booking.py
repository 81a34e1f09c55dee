"""Online booking (D2, D5), on the real broker and PostgreSQL: the link the recall service puts in
a book-again reminder opens a page in the customer's language with the service's free times,
books one for that customer marked "via book-again reminder", books once, and bad links are
limited per address like My pages."""
import re
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from bookflow_booking.app import create_app
from bookflow_booking.handlers import ONLINE_BOOKING
from bookflow_contracts import topics
from bookflow_runtime.auth import sign_link


def client_at(app, address: str) -> httpx.AsyncClient:
    """A client calling from `address`, as the server sees it."""
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=(address, 50_000)), base_url="http://service")


@pytest.fixture(scope="module")
async def app(settings):
    served = create_app(settings)
    async with served.router.lifespan_context(served):
        yield served


@pytest.fixture(scope="module")
async def service(app):
    async with client_at(app, "127.0.0.1") as client:
        yield app.state.runtime, client


async def salon(desk, *, bookable: bool = True) -> tuple:
    office = await desk.tenant(name="Salong Lugn", time_zone="Europe/Stockholm", language="sv", phone="08-123 45 67")
    customer = (await desk.client.post(office.url("/customers"), headers=office.headers,
                                       json={"name": "Kari Nordmann", "phone": "+4791234567", "language": "nb"})).json()
    await desk.client.put(office.url("/catalog/klipp"), headers=office.headers,
                          json={"name": "Klippning", "duration_minutes": 45, "bookable_online": bookable})
    return office, customer


def link(settings, office, customer, *, reminder: str = "r-1", service: str = "klipp") -> str:
    return "/book/" + sign_link(settings.link_secret, ONLINE_BOOKING, {"t": office.id, "c": customer["id"], "s": service,
                                                                      "src": "book-again", "r": reminder})


async def test_a_book_again_link_shows_free_times_in_the_customers_language_and_books_one_via_the_reminder(desk, settings):
    office, customer = await salon(desk)
    start = (datetime.now(UTC) + timedelta(days=3)).replace(minute=0, second=0, microsecond=0)
    slots = [await desk.post(office, "/slots", {"service": "klipp", "starts_at": (start + timedelta(hours=h)).isoformat(),
                                                "ends_at": (start + timedelta(hours=h, minutes=45)).isoformat()}, status=201)
             for h in (0, 1)]
    await desk.post(office, "/slots", {"service": "färgning", "starts_at": start.isoformat(),
                                       "ends_at": (start + timedelta(hours=1)).isoformat()}, status=201)
    url = link(settings, office, customer)

    page = await desk.client.get(url)
    assert page.status_code == 200 and '<html lang="nb">' in page.text
    assert "Bestill time" in page.text and "Klippning" in page.text and "Salong Lugn" in page.text
    assert set(re.findall(r'name="slot_id" value="([^"]+)"', page.text)) == {s["id"] for s in slots}  # only this service's

    booked = await desk.client.post(url, data={"slot_id": slots[1]["id"]})
    assert booked.status_code == 303 and "/my/" in booked.headers["location"]
    [made] = await desk.get(office, "/bookings", customer_id=customer["id"])
    assert (made["slot_id"], made["source"], made["source_ref"], made["via"]) == (slots[1]["id"], "book-again", "r-1",
                                                                                  "via book-again reminder")
    card = await desk.get(office, f"/customers/{customer['id']}")
    assert [b["via"] for b in card["bookings"]] == ["via book-again reminder"]
    [created] = await desk.published(office, topics.BOOKING_CREATED, "booking.created", booking_id=made["id"])
    assert (created["source"], created["source_ref"], created["customer"]["customer_id"]) == ("book-again", "r-1", customer["id"])

    again = await desk.client.post(url, data={"slot_id": slots[0]["id"]})  # the same link once more: the booking it made
    assert again.status_code == 303 and len(await desk.get(office, "/bookings")) == 1
    revisit = await desk.client.get(url)
    assert "Du har bestilt dette tidspunktet:" in revisit.text and 'name="slot_id"' not in revisit.text


async def test_a_taken_time_or_a_service_not_bookable_online_is_explained_on_the_page(desk, settings):
    office, customer = await salon(desk)
    start = datetime.now(UTC) + timedelta(days=2)
    slot = await desk.post(office, "/slots", {"service": "klipp", "starts_at": start.isoformat(),
                                              "ends_at": (start + timedelta(minutes=45)).isoformat()}, status=201)
    await desk.post(office, "/bookings", {"customer": {"name": "Bo", "phone": "+46701234567"}, "service": "klipp",
                                          "slot_id": slot["id"]}, status=201)
    url = link(settings, office, customer)
    taken = await desk.client.post(url, data={"slot_id": slot["id"]})
    assert taken.status_code == 303 and taken.headers["location"].endswith("?error=slot-taken")
    explained = await desk.client.get(taken.headers["location"].split("http://service", 1)[-1])
    assert 'id="error"' in explained.text
    assert len(await desk.get(office, "/bookings")) == 1
    page = await desk.client.get(url)
    assert "Det er ingen ledige tider de nærmeste ukene." in page.text

    closed, closed_customer = await salon(desk, bookable=False)
    shut = await desk.client.get(link(settings, closed, closed_customer))
    assert "Denne tjenesten kan ikke bestilles på nett." in shut.text


async def test_a_bad_link_to_online_booking_is_refused_and_too_many_from_one_address_must_wait(desk, settings, app):
    office, customer = await salon(desk)
    url = link(settings, office, customer)
    assert (await desk.client.get(url[:-3] + "xyz")).status_code == 403
    my_pages_token = sign_link(settings.link_secret, "my-pages", {"t": office.id, "b": str(uuid.uuid4())})
    assert (await desk.client.get(f"/book/{my_pages_token}")).status_code == 403  # a link for something else
    wrong = sign_link(settings.link_secret, ONLINE_BOOKING, {"t": office.id, "c": "not-a-uuid", "s": "klipp"})
    assert (await desk.client.get(f"/book/{wrong}")).status_code == 403
    async with client_at(app, "198.51.100.8") as prober, client_at(app, "203.0.113.21") as customer_at_home:
        assert [(await prober.get(f"/book/guess-{i}")).status_code for i in range(30)] == [403] * 30
        told = await prober.get("/book/guess-31")
        assert told.status_code == 429 and told.json()["code"] == "too-many-link-attempts"
        assert (await prober.get(url)).status_code == 429  # even a good link, from that address, for a while
        assert (await customer_at_home.get(url)).status_code == 200

