"""The gate for messages about tenants a service has not heard of yet, without a broker: the
tenants consumer's progress and the service's storage are played by the test."""
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from bookflow_contracts import Envelope
from bookflow_runtime.errors import Undeliverable
from bookflow_runtime.subscription import Progress
from bookflow_runtime.tenants import TenantGate


def message(tenant_id: str) -> Envelope:
    return Envelope(event_id=uuid.uuid4(), type="customer.updated", tenant_id=tenant_id, key=f"tenant:{tenant_id}",
                    payload={}, occurred_at=datetime.now(UTC), correlation_id="test")


def progress(caught_up_at: datetime | None, caught_up: set[int]) -> Progress:
    return Progress(caught_up_at=caught_up_at, caught_up=frozenset(caught_up), partitions=frozenset({0, 1, 2}))


class Tenants:
    """The service's storage: which tenants it has, and how often it was asked."""

    def __init__(self, known: set[str], learns_after: int | None = None) -> None:
        self.known, self.asked, self.learns_after = known, 0, learns_after

    async def __call__(self, session, tenant_id: str) -> bool:
        self.asked += 1
        if self.learns_after is not None and self.asked > self.learns_after:
            self.known.add(tenant_id)
        return tenant_id in self.known


async def test_a_tenant_another_replica_takes_in_lets_the_message_through():
    """This process holds none of the tenants topic (another replica does): the tenant, stored by
    that replica while the message waits, is found before the wait runs out."""
    tenants = Tenants(set(), learns_after=3)
    gate = TenantGate(lambda: progress(None, set()), tenants, service="test", wait_seconds=5, poll_seconds=0.01)
    await gate.require(None, message("t-late"))
    assert tenants.asked == 4


async def test_a_tenant_still_unknown_once_its_partition_is_read_past_the_message_is_refused():
    tenants = Tenants(set())
    gate = TenantGate(lambda: progress(datetime.now(UTC) + timedelta(seconds=5), {0, 1, 2}), tenants, service="test",
                      wait_seconds=5, poll_seconds=0.01)
    with pytest.raises(Undeliverable) as refused:
        await gate.require(None, message("t-ghost"))
    assert refused.value.reason == "unknown-tenant" and "no tenant 't-ghost'" in str(refused.value)


async def test_a_gate_that_cannot_tell_refuses_within_its_wait():
    gate = TenantGate(lambda: progress(None, set()), Tenants(set()), service="test", wait_seconds=0.05, poll_seconds=0.01)
    with pytest.raises(Undeliverable) as refused:
        await gate.require(None, message("t-unknown"))
    assert "could not confirm it" in str(refused.value)
