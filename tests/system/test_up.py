"""`bookflow up`, the README's run command: the whole system on embedded defaults, stopped
cleanly by Ctrl-C; a taken port is reported and leaves nothing running."""
from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from bookflow_devstack.infra import free_port, port_is_free
from bookflow_devstack.testing import new_tenant, staff_headers, wait_until

pytestmark = pytest.mark.system


def five_free_ports() -> int:
    while True:
        base = random.randrange(20000, 60000, 10)
        if all(port_is_free(base + i) for i in range(5)):
            return base


def run_up(state: Path, kafka_port: int, base_port: int) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BOOKFLOW_", "KAFKA_"))}
    env["BOOKFLOW_STATE_DIR"] = str(state)
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
    kafka_port, base = free_port(), five_free_ports()
    proc = run_up(tmp_path, kafka_port, base)
    try:
        output = read_until(proc, "Ctrl-C stops everything.", timeout=120)
        for name, port in zip(("booking", "notification", "scheduler", "recall", "checkin"), range(base, base + 5), strict=True):
            assert f"{name}" in output and f"http://127.0.0.1:{port}" in output
        assert "embedded PostgreSQL" in output and f"127.0.0.1:{kafka_port}" in output

        tenant = new_tenant()
        start = datetime.now(UTC) + timedelta(days=3)
        async with httpx.AsyncClient(timeout=5) as client:
            staff = staff_headers(tenant)  # `up` runs in development mode: the development key signs
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
    kafka_port, base = free_port(), five_free_ports()
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", base + 2))
        squatter.listen()
        proc = run_up(tmp_path, kafka_port, base)
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 1
        assert f"port {base + 2} for scheduler is taken" in err
    for port in [kafka_port, *range(base, base + 5)]:
        assert port_is_free(port), f"port {port} still taken after the failed start"
