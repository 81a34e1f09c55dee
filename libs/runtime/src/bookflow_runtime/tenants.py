"""Messages for a tenant a service has not heard of (yet).

A service that learns its tenants from `tenant.updated` may read a message about a tenant before
that tenant's `tenant.updated`: they travel on different topics. The booking service publishes a
tenant's `tenant.updated` before anything that concerns it, so once this process's tenants
consumer has handled everything the tenant's partition held at an instant after the message
(plus a slack for clocks), a tenant still unknown does not exist: the message is refused for good
(`Undeliverable`, reason `unknown-tenant`). Until then the handler waits, briefly and bounded,
asking its storage again as it waits (another replica may hold the tenant's partition and take
the tenant in): a consumer that cannot tell within `wait_seconds` (its tenants consumer stuck, or
the tenant's partition held by another replica that has not taken it in either) refuses the
message too, rather than retrying it for ever.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from aiokafka.partitioner import DefaultPartitioner
from sqlalchemy.ext.asyncio import AsyncSession

from bookflow_contracts import Envelope
from bookflow_runtime.errors import Undeliverable
from bookflow_runtime.subscription import Progress

_partitioner = DefaultPartitioner()

TenantKnown = Callable[[AsyncSession, str], Awaitable[bool]]
"""Whether the service has the tenant (its `tenant.updated` handled), in the handler's session."""


class TenantGate:
    """Lets a handler go on only for a tenant the service knows (see the module).

    `progress` is the tenants consumer's (`ServiceRuntime.consumer_progress`); `known` asks the
    service's own storage. Known tenants are remembered: tenants are never forgotten."""

    def __init__(self, progress: Callable[[], Progress], known: TenantKnown, *, service: str, wait_seconds: float = 20.0,
                 slack: timedelta = timedelta(seconds=1), poll_seconds: float = 0.1) -> None:
        self.progress, self.known, self.service = progress, known, service
        self.wait_seconds, self.slack, self.poll_seconds = wait_seconds, slack, poll_seconds
        self._known: set[str] = set()

    async def require(self, session: AsyncSession, envelope: Envelope) -> None:
        """Return when the envelope's tenant is known; raise `Undeliverable` when it never will be."""
        tenant_id = envelope.tenant_id
        if tenant_id in self._known or await self._ask(session, tenant_id):
            return
        # Whatever was published before the message was handled: its tenant's `tenant.updated` too.
        after = min(envelope.occurred_at, datetime.now(UTC)) + self.slack
        deadline = time.monotonic() + self.wait_seconds
        while not self.caught_up_past(tenant_id, after):
            if time.monotonic() > deadline:
                raise Undeliverable("unknown-tenant", f"tenant {tenant_id!r} is not known to {self.service}, and its tenants "
                                                      f"consumer could not confirm it within {self.wait_seconds:.0f} s")
            await asyncio.sleep(self.poll_seconds)
            if await self._ask(session, tenant_id):  # another replica, holding the tenant's partition, took it in
                return
        if not await self._ask(session, tenant_id):
            raise Undeliverable("unknown-tenant", f"no tenant {tenant_id!r}: no tenant.updated for it by the time "
                                                  f"{self.service} had read the tenants topic past the message")

    def caught_up_past(self, tenant_id: str, instant: datetime) -> bool:
        """Whether the tenants consumer has handled everything the tenant's partition held at `instant`."""
        progress = self.progress()
        if progress.caught_up_at is None or progress.caught_up_at <= instant or not progress.partitions:
            return False
        partitions = sorted(progress.partitions)
        return _partitioner(f"tenant:{tenant_id}".encode(), partitions, partitions) in progress.caught_up

    async def _ask(self, session: AsyncSession, tenant_id: str) -> bool:
        if await self.known(session, tenant_id):
            self._known.add(tenant_id)
            return True
        return False
