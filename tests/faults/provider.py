"""A fake SMS provider speaking 46elks' HTTP API on a real local port, in the test's own event
loop: it notes every SMS it accepts with the instant it arrived, and can be told to answer 503
(or any status) for a while, as a provider that is down does.

Tenants point their 46elks account's `base_url` at it (the notification service accepts such an
address when it is listed in `BOOKFLOW_NOTIFICATION_SMS_TEST_ADDRESSES`)."""
from __future__ import annotations

import asyncio
import contextlib
import re
import secrets
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bookflow_devstack.infra import free_port

MARKER = re.compile(r"^\[\[([a-z0-9:-]+)\]\]")
"""Campaign tenants begin each SMS template with `[[template-key]]`, so a received text names the
template it was made from whatever its wording (see `mark_templates`)."""


@dataclass(frozen=True)
class Receipt:
    """One SMS the provider accepted."""

    at: datetime
    to: str
    sender: str
    text: str
    provider_id: str

    @property
    def template(self) -> str | None:
        found = MARKER.match(self.text)
        return found.group(1) if found else None


@dataclass
class FakeSmsProvider:
    """46elks' `POST /a1/sms` with basic auth. `fail_with(status, seconds)` makes every call
    answer `status` until the time is up; `received` holds every accepted SMS in order."""

    username: str = field(default_factory=lambda: f"u{secrets.token_hex(4)}")
    password: str = field(default_factory=lambda: secrets.token_hex(16))
    base_url: str = ""
    received: list[Receipt] = field(default_factory=list)
    refused: int = 0
    calls: int = 0
    _failing_until: float = 0.0
    _failing_status: int = 503

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/a1/sms", self._sms, methods=["POST"])])

    async def _sms(self, request: Request) -> Response:
        self.calls += 1
        if request.headers.get("authorization") != httpx.BasicAuth(self.username, self.password)._auth_header:  # noqa: SLF001
            return JSONResponse({"message": "bad credentials"}, 401)
        if time.monotonic() < self._failing_until:
            self.refused += 1
            return Response("Service Unavailable", self._failing_status, headers={"retry-after": "5"})
        form = dict((await request.form()).items())
        receipt = Receipt(datetime.now(UTC), form.get("to", ""), form.get("from", ""), form.get("message", ""), f"s{uuid.uuid4().hex}")
        self.received.append(receipt)
        return JSONResponse({"id": receipt.provider_id, "status": "created", "to": receipt.to, "from": receipt.sender,
                             "message": receipt.text, "parts": 1, "cost": 3500, "direction": "outgoing"})

    def fail_with(self, status: int, seconds: float) -> None:
        """Answer `status` to every SMS from now for `seconds`."""
        self._failing_status = status
        self._failing_until = time.monotonic() + seconds

    @property
    def failing(self) -> bool:
        return time.monotonic() < self._failing_until

    def to(self, number: str) -> list[Receipt]:
        return [r for r in self.received if r.to == number]

    def account(self, sender: str) -> dict:
        """The tenant's 46elks account pointing at this fake (for notification settings)."""
        return {"provider": "46elks", "base_url": self.base_url, "username": self.username, "password": self.password,
                "sender": sender, "webhook_secret": secrets.token_hex(16)}


@contextlib.asynccontextmanager
async def serving(provider: FakeSmsProvider) -> AsyncIterator[FakeSmsProvider]:
    """Serve the provider on a free local port for the life of the block."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(provider.app(), host="127.0.0.1", port=port, log_config=None, access_log=False))
    task = asyncio.create_task(server.serve())
    deadline = time.monotonic() + 20
    while not server.started:
        if task.done():
            task.result()
        if time.monotonic() > deadline:
            raise TimeoutError("the fake SMS provider did not start")
        await asyncio.sleep(0.02)
    provider.base_url = f"http://127.0.0.1:{port}"
    try:
        yield provider
    finally:
        server.should_exit = True
        await task
