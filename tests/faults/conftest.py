"""The fault campaign and the poison messages run on a system of their own: their own tansu
broker, their own embedded PostgreSQL (a Unix socket in a temporary directory, never the
machine's shared server on 127.0.0.1:5432) and their own five service processes, because they
kill services and restart PostgreSQL. Both test modules share it; each starts from a system
whose services all run and whose provider answers."""
from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from pathlib import Path

from bookflow_devstack.processes import SERVICES
from tests.faults.campaign import FaultLog, Faults, Isolated, isolated_stack
from tests.faults.provider import FakeSmsProvider, serving


def campaign_env(workdir) -> dict[str, dict[str, str]]:  # noqa: ANN001
    """Settings of the campaign's services: the timings a seconds-scale system needs, and the
    fake provider's address allowed as a tenant's SMS provider."""
    return {
        "notification": {
            "BOOKFLOW_NOTIFICATION_SMS_TEST_ADDRESSES": "http://127.0.0.1",
            "BOOKFLOW_NOTIFICATION_LETTERS_DIR": str(workdir / "letters"),
            "BOOKFLOW_NOTIFICATION_DISPATCH_POLL_SECONDS": "0.25",
            "BOOKFLOW_NOTIFICATION_PROVIDER_TIMEOUT_SECONDS": "5",
            # Retries back off from 1 s to at most 4 s, so a message waits at most a few seconds
            # after the provider is back (the default backs off up to ten minutes).
            "BOOKFLOW_NOTIFICATION_RETRY_FIRST_BACKOFF_SECONDS": "1",
            "BOOKFLOW_NOTIFICATION_RETRY_MAX_BACKOFF_SECONDS": "4",
            # A message a killed process left `sending` is settled (as failed, not sent twice)
            # within the campaign rather than after two minutes.
            "BOOKFLOW_NOTIFICATION_SENDING_LEASE_SECONDS": "15",
        },
        "scheduler": {"BOOKFLOW_SCHEDULER_POLL_SECONDS": "0.25"},
    }


@pytest.fixture(scope="session")
def isolated() -> Iterator[Isolated]:
    """The campaign's own system. Its folder (service logs, the reconciliation report) is kept
    after the run for whoever reads a failure; the database files are removed."""
    workdir = Path(tempfile.mkdtemp(prefix="bookflow-campaign-"))
    with isolated_stack(workdir, campaign_env(workdir)) as system:
        yield system
    shutil.rmtree(workdir / "letters", ignore_errors=True)


@pytest.fixture(scope="session")
async def provider() -> AsyncIterator[FakeSmsProvider]:
    async with serving(FakeSmsProvider()) as fake:
        yield fake


@pytest.fixture
async def system(isolated: Isolated, provider: FakeSmsProvider) -> AsyncIterator[Isolated]:
    """The isolated system with every service running and the provider answering."""
    provider.fail_with(503, 0)
    for name in SERVICES:
        svc = isolated.stack.services[name]
        if not svc.alive():
            svc.start()
            svc.wait_ready(90)
    yield isolated


@pytest.fixture
async def faults(system: Isolated, provider: FakeSmsProvider) -> Faults:
    return Faults(system, provider, FaultLog())


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=httpx.Timeout(15, connect=3)) as c:
        yield c


@pytest.fixture
def stopwatch() -> Iterator[None]:
    """Print how long the test took (the campaign's runtime must stay bounded)."""
    began = time.monotonic()
    yield
    print(f"\n[campaign] test took {time.monotonic() - began:.1f} s", flush=True)
