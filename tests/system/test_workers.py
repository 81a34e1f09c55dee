"""A service run as several worker processes (`BOOKFLOW_<SERVICE>_WORKERS`) on the running system."""
from __future__ import annotations

import psutil
import pytest

from bookflow_devstack.processes import Stack
from bookflow_devstack.testing import new_tenant, wait_until
from tests.system.test_slice import booking_request, post_booking, sandbox

pytestmark = pytest.mark.system


async def test_a_service_run_as_two_worker_processes_sends_each_notice_once(stack: Stack):
    """Two processes share the consumers and the dispatching, and still every customer gets one
    notice. The two-worker service stays up for the rest of the session: restarting a single
    process right after two consumers left their groups can leave tansu (the local test broker)
    waiting minutes on the group join, which Apache Kafka does not do."""
    notification = stack.services["notification"]
    notification.stop()
    notification.start(extra_env={"BOOKFLOW_NOTIFICATION_WORKERS": "2"})
    notification.wait_ready()
    assert notification.proc is not None
    workers = [p for p in psutil.Process(notification.proc.pid).children(recursive=True) if "python" in p.name()]
    assert len(workers) >= 2
    tenant = new_tenant()
    for i in range(12):
        await post_booking(stack, tenant, booking_request(f"Kund{i} Öberg"))

    async def all_notices():
        messages = await sandbox(stack, tenant)
        return messages if len(messages) >= 12 else None

    messages = await wait_until(all_notices, what="twelve notices")
    assert sorted(m["body"].split("!")[0] for m in messages) == sorted(f"Hej Kund{i}" for i in range(12))
