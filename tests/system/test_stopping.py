"""A service asked to stop (SIGTERM, as an orchestrator asks) stops within its bound,
`BOOKFLOW_STOP_SECONDS` (10 s by default), every time, also while messages flow through it and
also when it runs as two worker processes: it stops consuming, finishes or abandons the batch
in hand, and exits cleanly. The figure of each stop is printed; the assertion is on the bound.

The services run on a broker and databases of this module's own, since they are stopped and
started again here."""
from __future__ import annotations

import asyncio
import signal
import time

import psutil
import pytest

from bookflow_devstack.processes import Stack
from bookflow_devstack.testing import wait_until
from tests.system.conftest import Load, open_tenant, private_stack, sandbox_messages

pytestmark = pytest.mark.system

STOP_SECONDS = 10.0
"""The default bound (`BOOKFLOW_STOP_SECONDS`), which these services run with."""


@pytest.fixture(scope="module")
def own_stack(postgres_server, tmp_path_factory) -> Stack:
    with private_stack(postgres_server, tmp_path_factory.mktemp("stopping")) as (stack, _):
        yield stack


async def stop_under_load(stack: Stack, name: str, record_property) -> float:  # noqa: ANN001
    """Start a stream of bookings, wait until messages flow end to end, SIGTERM the service and
    measure until its process (and every worker process of it) has exited."""
    service = stack.services[name]
    logged_before = len(service.log_path.read_text(errors="replace"))
    if not service.alive():
        service.start()
        service.wait_ready()
    tenant, headers = await open_tenant(stack)
    load = Load(stack, tenant, headers, per_second=25)
    load.start()
    try:
        await wait_until(lambda: _notices(stack, tenant, 5), timeout=60, what="notices flowing end to end")
        at_stop = load.accepted + 40
        await wait_until(lambda: load.accepted >= at_stop, timeout=60, what="forty more bookings under way")
        assert service.proc is not None
        # uvicorn's worker processes (not multiprocessing's resource tracker, which leaves after its parent)
        workers = [w for w in psutil.Process(service.proc.pid).children(recursive=True) if "spawn_main" in " ".join(_cmdline(w))]
        serving = max(1, len(workers))
        began = time.monotonic()
        service.proc.send_signal(signal.SIGTERM)
        code = await asyncio.to_thread(service.wait_exit, STOP_SECONDS + 20)
        took = time.monotonic() - began
        still_running = [w.pid for w in workers if _alive(w)]
    finally:
        await load.stop()
    print(f"\n{name}{f' ({serving} worker processes)' if serving > 1 else ''} stopped under load in {took:.2f} s "
          f"(exit code {code}; {load.accepted} bookings during the run)")
    record_property(f"stop_seconds_{name}_{serving}", round(took, 3))
    assert took <= STOP_SECONDS, f"{name} took {took:.2f} s to stop; the bound is {STOP_SECONDS:.0f} s:\n{service.tail(40)}"
    assert still_running == [], f"worker processes {still_running} outlived their supervisor"
    # Cleanly: every process finished its own stop; the watchdog (exit code 1) was not needed.
    said = service.log_path.read_text(errors="replace")[logged_before:]
    assert code != 1 and "did not stop within" not in said, f"{name} needed its watchdog (exit code {code}):\n{service.tail(40)}"
    assert said.count(f"{name} stopped") >= serving, f"{name} did not finish its stop:\n{service.tail(40)}"
    return took


def _alive(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _cmdline(process: psutil.Process) -> list[str]:
    try:
        return process.cmdline()
    except psutil.Error:
        return []


async def _notices(stack: Stack, tenant: str, count: int) -> bool:
    try:
        return len(await sandbox_messages(stack, tenant)) >= count
    except Exception:  # noqa: BLE001 (the notification service may be the one restarting)
        return False


@pytest.mark.parametrize("name", ["scheduler", "recall", "checkin", "booking", "notification"])
async def test_a_service_asked_to_stop_under_load_exits_within_its_bound(own_stack: Stack, name: str, record_property):
    await stop_under_load(own_stack, name, record_property)
    own_stack.services[name].start()
    own_stack.services[name].wait_ready()


async def test_a_service_of_two_worker_processes_asked_to_stop_under_load_exits_within_its_bound(own_stack: Stack, record_property):
    notification = own_stack.services["notification"]
    notification.stop()
    logged_before = len(notification.log_path.read_text(errors="replace"))
    notification.start(extra_env={"BOOKFLOW_NOTIFICATION_WORKERS": "2"})
    notification.wait_ready()  # one worker answers

    def both_started() -> bool:  # a worker still joining its groups when asked to stop is ended by its watchdog
        return notification.log_path.read_text(errors="replace")[logged_before:].count("notification started") >= 2

    await wait_until(both_started, timeout=90, what="both worker processes to have started")
    await stop_under_load(own_stack, "notification", record_property)
