"""The notification service in this process on the real broker and PostgreSQL, fake SMS providers
speaking 46elks' and Twilio's HTTP APIs on real local ports, a clock tests can set, and a front
desk that configures tenants, sends requests and reads the communication log."""
from __future__ import annotations

import asyncio
import contextlib
import secrets
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import Any

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bookflow_contracts import CustomerSnapshot, SendNotification, TenantUpdated
from bookflow_devstack.infra import free_port
from bookflow_devstack.testing import Kafka, envelope, new_tenant, running_service, wait_until
from bookflow_notification import MIGRATIONS
from bookflow_notification.app import create_app
from bookflow_notification.settings import NotificationSettings
from bookflow_runtime import development
from bookflow_runtime.auth import issue_staff_token


class Clock:
    """Real time unless a test sets `frozen`."""

    def __init__(self) -> None:
        self.frozen: datetime | None = None
        self.reads = 0  # the dispatcher reads the clock once per round

    def __call__(self) -> datetime:
        self.reads += 1
        return self.frozen or datetime.now(UTC)


@contextlib.asynccontextmanager
async def serving(app: Any, port: int | None = None) -> AsyncIterator[str]:
    """Serve an ASGI app on a real local port; yields its base URL."""
    port = port or free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=False))
    task = asyncio.create_task(server.serve())
    await wait_until(lambda: server.started or task.done(), what="the local server to start")
    if task.done():
        task.result()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


@dataclass
class FakeProvider:
    """An SMS provider's API on a real port. `answers` holds status codes to give before
    accepting; `received` every SMS it accepted, `calls` every call."""

    kind: str
    username: str = field(default_factory=lambda: f"u{secrets.token_hex(4)}")
    password: str = field(default_factory=lambda: secrets.token_hex(16))
    answers: list[int] = field(default_factory=list)
    received: list[dict] = field(default_factory=list)
    calls: int = 0
    base_url: str = ""
    before_answer: Any = None  # an async function of (form, provider message id), awaited before accepting
    on_call: Any = None  # an async function of the form, awaited as each call comes in (before any answer)

    def app(self) -> Starlette:
        async def elks(request: Request) -> Response:
            return await self._accept(request, lambda form: {"id": f"s{uuid.uuid4().hex}", "status": "created", **form}, 200)

        async def twilio(request: Request) -> Response:
            if request.path_params["sid"] != self.username:
                return JSONResponse({"message": "wrong account"}, 404)
            return await self._accept(request, lambda form: {"sid": f"SM{uuid.uuid4().hex}", "status": "queued"}, 201)

        return Starlette(routes=[
            Route("/a1/sms", elks, methods=["POST"]),
            Route("/2010-04-01/Accounts/{sid}/Messages.json", twilio, methods=["POST"]),
        ])

    async def _accept(self, request: Request, answer, status: int) -> Response:  # noqa: ANN001
        self.calls += 1
        auth = httpx.BasicAuth(self.username, self.password)._auth_header  # noqa: SLF001 (the expected header)
        if request.headers.get("authorization") != auth:
            return JSONResponse({"message": "bad credentials"}, 401)
        form = dict((await request.form()).items())
        if self.on_call is not None:
            await self.on_call(form)
        if self.answers:
            return Response("busy", self.answers.pop(0))
        body = answer(form)
        self.received.append({**form, "_id": body.get("id") or body.get("sid")})
        if self.before_answer is not None:
            await self.before_answer(form, body.get("id") or body.get("sid"))
        return JSONResponse(body, status)

    def to(self, number: str) -> list[dict]:
        return [r for r in self.received if r.get("to", r.get("To")) == number]

    def account(self, sender: str, **extra: Any) -> dict:
        return {"provider": self.kind, "base_url": self.base_url, "username": self.username, "password": self.password,
                "sender": sender, **({"webhook_secret": secrets.token_hex(16)} if self.kind == "46elks" else {}), **extra}


@pytest.fixture(scope="module")
async def elks() -> AsyncIterator[FakeProvider]:
    fake = FakeProvider("46elks")
    async with serving(fake.app()) as url:
        fake.base_url = url
        yield fake


@pytest.fixture(scope="module")
async def twilio() -> AsyncIterator[FakeProvider]:
    fake = FakeProvider("twilio")
    async with serving(fake.app()) as url:
        fake.base_url = url
        yield fake


@pytest.fixture(scope="module")
def clock() -> Clock:
    return Clock()


@pytest.fixture(scope="module")
def settings(make_database, kafka, tmp_path_factory) -> NotificationSettings:
    return NotificationSettings(
        database_url=make_database("notification", MIGRATIONS), kafka_bootstrap_servers=kafka.bootstrap_servers,
        public_url="http://notification.test", letters_dir=str(tmp_path_factory.mktemp("letters")),
        dispatch_poll_seconds=0.2, retry_first_backoff_seconds=0.2, retry_max_backoff_seconds=1, attempts_per_provider=2,
        provider_timeout_seconds=5, unknown_tenant_slack_seconds=1,
        sms_test_addresses="http://127.0.0.1",  # the fake providers, on whatever port they got
    )


@pytest.fixture(scope="module")
async def service(settings, clock):
    async with running_service(partial(create_app, clock=clock), settings) as (runtime, client):
        yield runtime, client


@dataclass
class Office:
    """One tenant as its staff sees it."""

    id: str
    client: httpx.AsyncClient
    kafka: Kafka
    secret: str
    announced: bool = False

    @staticmethod
    def new_phone() -> str:
        """A Swedish mobile number no other test uses."""
        return f"+4670{secrets.randbelow(10**7):07d}"

    @property
    def headers(self) -> dict:
        return {"Authorization": f"Bearer {issue_staff_token(self.secret, self.id, 'ann', ('administrator',))}"}

    async def configure(self, **settings: Any) -> dict:
        """PUT the tenant's settings. Quiet hours are off unless a test gives them, so that what a
        test sends goes out at whatever hour the suite runs (the default 21:00–08:00 would hold it)."""
        settings = {"quiet_hours_start": "00:00", "quiet_hours_end": "00:00", **settings}
        response = await self.client.put(f"/tenants/{self.id}/notification-settings", json=settings, headers=self.headers)
        assert response.status_code == 200, response.text
        return response.json()

    async def announce(self, time_zone: str = "Europe/Stockholm", language: str = "sv", **settings: Any) -> None:
        """The booking service tells of the tenant; wait until this service knows it."""
        event = TenantUpdated(tenant_id=self.id, name=f"Firma {self.id}", time_zone=time_zone, language=language, settings=settings)
        await self.kafka.publish_envelope(envelope(event, self.id))

        async def known():
            described = (await self.client.get(f"/tenants/{self.id}/notification-settings", headers=self.headers)).json()
            return described["time_zone"] == time_zone and described

        described = await wait_until(known, timeout=30, what="the tenant's zone to be known")
        self.announced = True
        if described["settings"]["quiet_hours_start"] == "21:00" and described["settings"]["quiet_hours_end"] == "08:00":
            # Still the defaults: off, so that what a test sends goes out at whatever hour the suite runs.
            await self.configure(**described["settings"] | {"quiet_hours_start": "00:00", "quiet_hours_end": "00:00"})

    async def send(self, template_key: str = "booking-notice", *, channels=("sms",), purpose="service", data=None, customer_id=None,
                   announce_first: bool = True, publish: bool = True, booking_id: uuid.UUID | None = None,
                   regarding_version: int | None = None, valid_until: datetime | None = None, **customer) -> SendNotification:
        """Ask for a message to a customer (`publish=False`: only make the request); the booking
        service would have told of the tenant first (`announce`), unless `announce_first` is false."""
        if announce_first and not self.announced:
            await self.announce()
        booking_id = booking_id or uuid.uuid4()
        customer = {"name": "Åsa Öberg", "language": "sv", **customer}
        request = SendNotification(
            idempotency_key=f"booking:{booking_id}:{template_key}" + (f":v{regarding_version}" if regarding_version is not None else ""), customer=CustomerSnapshot(customer_id=customer_id or uuid.uuid4(), **customer),
            channels=list(channels), template_key=template_key, booking_id=booking_id, purpose=purpose,
            data=data if data is not None else {"service": "mätarbyte", "starts_at": "2031-01-20T07:00:00+00:00", "booking_id": str(booking_id)},
            regarding_version=regarding_version, valid_until=valid_until,
        )
        if publish:
            await self.kafka.publish_envelope(envelope(request, self.id))
        return request

    async def log(self, booking_id: uuid.UUID) -> list[dict]:
        response = await self.client.get(f"/tenants/{self.id}/messages", params={"booking_id": str(booking_id)}, headers=self.headers)
        assert response.status_code == 200, response.text
        return response.json()

    async def message_when(self, booking_id: uuid.UUID, check, what: str) -> dict:  # noqa: ANN001
        async def found():
            log = await self.log(booking_id)
            return log[0] if log and check(log[0]) else None

        return await wait_until(found, timeout=30, what=what)


@pytest.fixture
def office(service, kafka, settings) -> Office:
    _, client = service
    return Office(new_tenant(), client, kafka, development.STAFF_TOKEN_PRIVATE_KEY)


@pytest.fixture(scope="module")
async def served(settings) -> AsyncIterator[tuple[str, httpx.AsyncClient]]:
    """The service on a real local port, for a browser (instead of `service`, not with it)."""
    async with serving(create_app(settings)) as url, httpx.AsyncClient(base_url=url) as client:
        yield url, client


@pytest.fixture
def office_served(served, kafka, settings) -> Office:
    _, client = served
    return Office(new_tenant(), client, kafka, development.STAFF_TOKEN_PRIVATE_KEY)
