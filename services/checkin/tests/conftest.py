"""The check-in service in this process on the real broker and PostgreSQL, and a workshop that
plays booking (tenants, catalogs, bookings and their changes) and the scheduler (timers handed
back as `reminder.due`), and reads what check-in published."""
from __future__ import annotations

import io
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from bookflow_checkin import MIGRATIONS
from bookflow_checkin.app import create_app
from bookflow_checkin.settings import CheckinSettings
from bookflow_contracts import (
    Address, BookingCommandApplied, BookingCommandRefused, BookingCreated, BookingSnapshot, CatalogService, CatalogUpdated,
    CustomerSnapshot, OrderTransitioned, ReminderDue, Subject, TenantUpdated, WorkLine,
)
from bookflow_devstack.testing import Kafka, envelope, envelope_of, header, new_tenant, running_service, staff_headers, wait_until

MAX_FILE = 200 * 1024  # small, so that "too large" needs no large upload


@pytest.fixture(scope="module")
def attachment_folder(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("attachments")


@pytest.fixture(scope="module")
def settings(make_database, kafka, attachment_folder) -> CheckinSettings:
    return CheckinSettings(database_url=make_database("checkin", MIGRATIONS), kafka_bootstrap_servers=kafka.bootstrap_servers,
                           public_url="http://checkin.test", attachment_folder=attachment_folder, max_file_bytes=MAX_FILE,
                           max_files_per_comment=3, bad_link_attempts=5)


@pytest.fixture(scope="module")
async def service(settings):
    async with running_service(create_app, settings) as (runtime, client):
        yield runtime, client


CATALOG = [
    CatalogService(service="apk", name="APK-keuring", duration_minutes=60, price_incl_vat=Decimal("45.00")),
    CatalogService(service="carwash", name="Wasbeurt", duration_minutes=20, price_incl_vat=Decimal("19.95"),
                   description="Buitenkant wassen en drogen.", link="https://garage.example/wassen", offered_at_checkin=True),
    CatalogService(service="interior", name="Binnenreiniging", duration_minutes=45, price_incl_vat=Decimal("49.00"),
                   description="Stofzuigen en ramen binnen.", offered_at_checkin=True),
    CatalogService(service="wipers", name="Ruitenwissers vervangen", duration_minutes=15, price_incl_vat=Decimal("29.50"),
                   vat_rate=Decimal("0.21"), description="Nieuwe wisserbladen voor.", offered_at_checkin=True),
]


@dataclass
class Garage:
    """One tenant: its administrator and receptionist, and the bookings the test made."""

    id: str
    admin: dict
    desk: dict
    zone: str = "Europe/Amsterdam"

    def url(self, path: str = "") -> str:
        return f"/tenants/{self.id}{path}"


@dataclass
class Workshop:
    client: httpx.AsyncClient
    kafka: Kafka
    versions: dict = field(default_factory=dict)

    async def garage(self, *, enabled: bool = True, link_before: str = "P3D", zone: str = "Europe/Amsterdam", language: str = "nl",
                     convert: tuple[str, ...] = ("wipers",), catalog: list[CatalogService] | None = None) -> Garage:
        tenant = new_tenant()
        g = Garage(tenant, staff_headers(tenant, "administrator", subject="boss"), staff_headers(tenant, "receptionist", subject="anna"), zone)
        await self.kafka.publish_envelope(envelope(TenantUpdated(
            tenant_id=tenant, name="Garage De Vries", time_zone=zone, language=language,
            settings={"phone": "+31201234567", "email": "balie@garage.example", "currency": "EUR"}), tenant))
        await self.kafka.publish_envelope(envelope(CatalogUpdated(tenant_id=tenant, services=catalog or CATALOG), tenant))
        response = await self.client.put(g.url("/checkin-settings"), headers=g.admin, json={
            "enabled": enabled, "link_before": link_before, "convert_to_intervention": list(convert)})
        assert response.status_code == 200, response.text
        return g

    def booking(self, *, starts_in: timedelta = timedelta(days=14), starts_at: datetime | None = None, channel: str | None = "sms",
                language: str | None = "nl", phone: str | None = "+31612345678", email: str | None = "jan@example.nl") -> BookingCreated:
        start = starts_at or (datetime.now(UTC) + starts_in).replace(microsecond=0)
        return BookingCreated(
            booking_id=uuid.uuid4(), state="booked", booking_version=0, service="apk", starts_at=start, ends_at=start + timedelta(hours=1),
            customer=CustomerSnapshot(customer_id=uuid.uuid4(), name="Jan de Vries", phone=phone, email=email, language=language,
                                      preferred_channel=channel),
            place=Address(street="Industrieweg 4", postcode="3542 AD", city="Utrecht"),
            work_lines=[WorkLine(line_id=uuid.uuid4(), service="apk", description="APK-keuring", price_incl_vat=Decimal("45.00")),
                        WorkLine(line_id=uuid.uuid4(), service="oil", description="Olie verversen", remark="5W-30, 4,5 liter",
                                 price_incl_vat=Decimal("89.95"))],
            subject=Subject(kind="vehicle", details={"registration": "GX-123-B", "make": "Volkswagen", "model": "Golf"}),
            extra_info="Sleutel graag bij de balie afgeven.",
        )

    async def book(self, garage: Garage, **kw) -> BookingCreated:
        created = self.booking(**kw)
        await self.kafka.publish_envelope(envelope(created, garage.id))
        self.versions[created.booking_id] = 0
        await self.appointment(garage, created.booking_id)
        return created

    async def change(self, garage: Garage, created: BookingCreated, to_state: str, *, transition: str = "change",
                     starts_at: datetime | None = None, version: int | None = None, wait: bool = True) -> OrderTransitioned:
        version = version if version is not None else self.versions.get(created.booking_id, 0) + 1
        self.versions[created.booking_id] = max(version, self.versions.get(created.booking_id, 0))
        start = starts_at or created.starts_at
        event = OrderTransitioned(
            booking_id=created.booking_id, from_state="booked", to_state=to_state, transition=transition, actor="staff:planner",
            booking=BookingSnapshot(booking_id=created.booking_id, customer_id=created.customer.customer_id, service=created.service,
                                    starts_at=start, ends_at=start + timedelta(hours=1), state=to_state, version=version))
        await self.kafka.publish_envelope(envelope(event, garage.id))
        if wait:
            await wait_until(lambda: self._at_version(garage, created.booking_id, start, to_state), what=f"the booking {to_state}")
        return event

    async def _at_version(self, garage: Garage, booking_id: uuid.UUID, start: datetime, state: str) -> bool:
        response = await self.client.get(garage.url(f"/appointments/{booking_id}"), headers=garage.desk)
        if response.status_code != 200:
            return False
        body = response.json()
        return body["state"] == state and datetime.fromisoformat(body["starts_at"]) == start

    async def appointment(self, garage: Garage, booking_id: uuid.UUID, headers: dict | None = None) -> dict:
        async def found():
            response = await self.client.get(garage.url(f"/appointments/{booking_id}"), headers=headers or garage.desk)
            return response.json() if response.status_code == 200 and response.json().get("customer") else None

        return await wait_until(found, what="the appointment in check-in")

    async def published(self, garage: Garage, topic: str, type_: str, *, count: int = 1, booking_id: uuid.UUID | None = None,
                        where=lambda payload: True, timeout: float = 20) -> list[dict]:
        """Payloads of `type_` check-in published for this tenant (and booking), oldest first."""
        def match(record) -> bool:
            env = envelope_of(record)
            return (header(record, "tenant-id") == garage.id and env is not None and env.type == type_
                    and (booking_id is None or env.key in (f"booking:{booking_id}", f"checkin:{booking_id}")) and where(env.payload))

        async with self.kafka.reader(topic) as reader:
            records = await reader.wait_for(match, count=count, timeout=timeout, what=f"{count} {type_} on {topic}")
        return [envelope_of(r).payload for r in sorted(records, key=lambda r: (r.timestamp, r.offset))]

    async def all_published(self, garage: Garage, topic: str, type_: str | None = None, booking_id: uuid.UUID | None = None) -> list[dict]:
        async with self.kafka.reader(topic) as reader:
            await reader.poll()
            await reader.poll()
            return [e.payload for e in reader.envelopes() if e.tenant_id == garage.id and (type_ is None or e.type == type_)
                    and (booking_id is None or e.key in (f"booking:{booking_id}", f"checkin:{booking_id}"))]

    async def fire(self, garage: Garage, timer: dict) -> None:
        """Hand a timer back as the scheduler would."""
        now = datetime.now(UTC)
        await self.kafka.publish_envelope(envelope(ReminderDue(
            timer_key=timer["timer_key"], payload=timer["payload"], due_at=timer["due_at"], fired_at=now, lateness_ms=0), garage.id))

    async def link_timer(self, garage: Garage, booking_id: uuid.UUID, count: int = 1) -> dict:
        timers = await self.published(garage, "timer.requests", "timer.set", booking_id=booking_id, count=count)
        return timers[-1]

    async def checkin_link(self, garage: Garage, created: BookingCreated) -> str:
        """Fire the booking's link timer and return the path of the link the message carries."""
        await self.fire(garage, await self.link_timer(garage, created.booking_id))
        [sent] = await self.published(garage, "notification.requests", "notification.send", booking_id=created.booking_id)
        return urlsplit(sent["data"]["checkin_url"]).path

    async def answer(self, garage: Garage, request_id: str, command: str, *, refused: str | None = None) -> None:
        """Booking's answer to a command check-in sent."""
        if refused:
            message = BookingCommandRefused(request_id=uuid.UUID(request_id), command=command, reason_code="invalid", reason=refused)
        else:
            message = BookingCommandApplied(request_id=uuid.UUID(request_id), command=command)
        await self.kafka.publish_envelope(envelope(message, garage.id))


@pytest.fixture
def workshop(service, kafka) -> Workshop:
    return Workshop(service[1], kafka)


def jpeg(size: int = 2000) -> bytes:
    """A real JPEG photo of about `size` bytes (padded inside a comment segment)."""
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (32, 24), (200, 30, 30)).save(out, "JPEG")
    data = out.getvalue()
    pad = max(0, size - len(data))
    segments = b""
    while pad > 0:
        chunk = min(pad, 60000)
        segments += b"\xff\xfe" + (chunk + 2).to_bytes(2, "big") + b"x" * chunk
        pad -= chunk + 4
    return data[:2] + segments + data[2:]


def mp4() -> bytes:
    """The start of an MP4 video (ftyp box), as a phone records it."""
    return b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + b"\x00" * 4000


class Media:
    """Sample files for the tests (real photo bytes, a video's first box), and the size limit."""

    max_file = MAX_FILE
    jpeg = staticmethod(jpeg)
    mp4 = staticmethod(mp4)


@pytest.fixture
def media() -> Media:
    return Media()
