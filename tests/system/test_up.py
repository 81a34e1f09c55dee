"""`bookflow up`, the README's run command: the whole system on embedded defaults, stopped
cleanly by Ctrl-C; a taken port is reported and leaves nothing running."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncio
import contextlib
import secrets
import uuid

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from bookflow_devstack.infra import free_port, port_is_free
from bookflow_devstack.testing import OPERATOR, new_tenant, staff_headers, wait_until
from tests.system.conftest import daytime_zone

pytestmark = pytest.mark.system


def run_up(state: Path, kafka_port: int, base_port: int, extra_env: dict[str, str] | None = None) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BOOKFLOW_", "KAFKA_"))}
    env["BOOKFLOW_STATE_DIR"] = str(state)
    env.update(extra_env or {})
    return subprocess.Popen(
        [sys.executable, "-m", "bookflow_devstack", "up", "--kafka-port", str(kafka_port), "--base-port", str(base_port)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )


def read_until(proc: subprocess.Popen, marker: str, timeout: float) -> str:
    seen = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line and proc.poll() is not None:
            break
        seen.append(line)
        if marker in line:
            return "".join(seen)
    raise AssertionError(f"no {marker!r} within {timeout:.0f} s; output:\n{''.join(seen)}\n{proc.stderr.read() if proc.poll() is not None else ''}")


async def test_up_runs_all_five_services_on_embedded_defaults_and_ctrl_c_stops_everything(tmp_path):
    kafka_port, base = free_port(), free_port(5)
    proc = run_up(tmp_path, kafka_port, base)
    try:
        output = read_until(proc, "Ctrl-C stops everything.", timeout=120)
        for name, port in zip(("booking", "notification", "scheduler", "recall", "checkin"), range(base, base + 5), strict=True):
            assert f"{name}" in output and f"http://127.0.0.1:{port}" in output
        assert "embedded PostgreSQL" in output and f"127.0.0.1:{kafka_port}" in output

        tenant = new_tenant()
        start = datetime.now(UTC) + timedelta(days=3)
        async with httpx.AsyncClient(timeout=5) as client:
            operator = OPERATOR  # `up` runs in development mode
            made = await client.put(f"http://127.0.0.1:{base}/tenants/{tenant}", headers=operator, json={"name": "Pinea"})
            assert made.status_code == 200, made.text
            staff = staff_headers(tenant)  # the development key signs
            created = await client.post(f"http://127.0.0.1:{base}/tenants/{tenant}/bookings", headers=staff, json={
                "customer": {"name": "Kari", "email": "kari@example.no", "language": "nb"}, "service": "hårklipp",
                "starts_at": start.isoformat(), "ends_at": (start + timedelta(minutes=45)).isoformat(),
            })
            assert created.status_code == 201, created.text

            async def delivered():
                return (await client.get(f"http://127.0.0.1:{base + 1}/sandbox/messages", params={"tenant_id": tenant})).json()

            [message] = await wait_until(delivered, timeout=30, what="the notice in the sandbox")
        assert message["recipient"] == "kari@example.no"
    finally:
        os.killpg(proc.pid, signal.SIGINT) if proc.poll() is None else None
    assert proc.wait(60) == 0
    for port in [kafka_port, *range(base, base + 5)]:
        assert port_is_free(port), f"port {port} still taken after Ctrl-C"


def test_up_with_a_taken_port_says_which_and_leaves_nothing_running(tmp_path):
    kafka_port, base = free_port(), free_port(5)
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", base + 2))
        squatter.listen()
        proc = run_up(tmp_path, kafka_port, base)
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 1
        assert f"port {base + 2} for scheduler is taken" in err
    for port in [kafka_port, *range(base, base + 5)]:
        assert port_is_free(port), f"port {port} still taken after the failed start"


class Fake46elks:
    """46elks's SMS API on a local port: accepts each SMS and keeps what it was sent."""

    def __init__(self) -> None:
        self.received: list[dict] = []
        self.username, self.password = f"u{secrets.token_hex(4)}", secrets.token_hex(16)

    async def sms(self, request: Request) -> JSONResponse:
        form = dict((await request.form()).items())
        sms_id = f"s{uuid.uuid4().hex}"
        self.received.append({**form, "id": sms_id})
        return JSONResponse({"id": sms_id, "status": "created", **form})

    @contextlib.asynccontextmanager
    async def serving(self):
        port = free_port()
        server = uvicorn.Server(uvicorn.Config(Starlette(routes=[Route("/a1/sms", self.sms, methods=["POST"])]),
                                               host="127.0.0.1", port=port, log_config=None, access_log=False))
        task = asyncio.create_task(server.serve())
        await wait_until(lambda: server.started or task.done(), what="the fake 46elks to start")
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            server.should_exit = True
            await task


async def test_up_on_other_ports_gives_providers_callback_addresses_on_the_real_port(tmp_path):
    """`bookflow up --base-port N`: the notification service listens on N+1, and the addresses it
    gives SMS providers for delivery reports are on N+1 too (not the default 8102), so a report
    reaches it and the message is marked delivered."""
    kafka_port, base = free_port(), free_port(5)
    notification = f"http://127.0.0.1:{base + 1}"
    elks = Fake46elks()
    # The operator allows the local fake provider by name, as for any test provider: a tenant's
    # account may name no other address than 46elks's own (server-side request forgery).
    proc = run_up(tmp_path, kafka_port, base, {"BOOKFLOW_NOTIFICATION_SMS_TEST_ADDRESSES": "http://127.0.0.1"})
    try:
        read_until(proc, "Ctrl-C stops everything.", timeout=120)
        tenant = new_tenant()
        async with elks.serving() as elks_url, httpx.AsyncClient(timeout=10) as client:
            zone = daytime_zone()
            created = await client.put(f"http://127.0.0.1:{base}/tenants/{tenant}", headers=OPERATOR,
                                       json={"name": "Salong", "time_zone": zone, "language": "sv"})
            assert created.status_code == 200, created.text
            admin = {"Authorization": f"Bearer {created.json()['staff_token']}"}
            account = {"provider": "46elks", "base_url": elks_url, "username": elks.username, "password": elks.password,
                       "sender": "+46766860001", "webhook_secret": secrets.token_hex(16)}

            settings_url = f"{notification}/tenants/{tenant}/notification-settings"

            async def known():  # the notification service learns of the tenant from `tenant.updated`
                answer = await client.get(settings_url, headers=admin)
                return answer.status_code == 200 and answer.json().get("time_zone") == zone

            await wait_until(known, timeout=30, interval=0.2, what="the notification service to know the tenant")
            configured = await client.put(settings_url, headers=admin, json={
                "sms_providers": [account], "quiet_hours_start": "00:00", "quiet_hours_end": "00:00"})
            assert configured.status_code == 200, configured.text
            start = datetime.now(UTC) + timedelta(days=3)
            booked = await client.post(f"http://127.0.0.1:{base}/tenants/{tenant}/bookings", headers=staff_headers(tenant), json={
                "customer": {"name": "Kari", "phone": "+46701234567", "language": "sv"}, "service": "hårklipp",
                "starts_at": start.isoformat(), "ends_at": (start + timedelta(minutes=45)).isoformat()})
            assert booked.status_code == 201, booked.text

            [sms] = await wait_until(lambda: elks.received, timeout=60, what="the notice at the fake 46elks")
            assert sms["whendelivered"].startswith(f"{notification}/webhooks/46elks/{tenant}/delivery?"), sms["whendelivered"]

            async def logged(status: str):
                log = (await client.get(f"{notification}/tenants/{tenant}/messages", headers=admin)).json()
                return [m for m in log if m["status"] == status]

            # A report racing ahead of the send's record is issue 9.5's; here it comes after, as usual.
            await wait_until(lambda: logged("sent"), timeout=30, what="the send to be recorded")
            report = await client.post(sms["whendelivered"], data={"id": sms["id"], "status": "delivered"})
            assert report.status_code == 204, report.text
            await wait_until(lambda: logged("delivered"), timeout=30, what="the message marked delivered by the report")
    finally:
        os.killpg(proc.pid, signal.SIGINT) if proc.poll() is None else None
    assert proc.wait(60) == 0
