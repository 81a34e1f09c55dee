"""The dispatcher: the loop that sends queued messages.

Each round has three steps, so that no database transaction stays open while a provider thinks:
1. claim (claiming.py): in one short transaction, lock due queued messages, decide each one, and
   mark those that go `sending`, rendered, with a lease;
2. send (sending.py): call the channels concurrently, outside any transaction;
3. record (recording.py): in one transaction, store each outcome (sent, retry later, next
   provider, next channel, failed) with its status event in the outbox.
Between rounds, upkeep.py deals with expired leases and messages waiting for their tenant.

A crash between 2 and 3 (a window of one batch's slowest provider call) leaves messages
`sending` whose provider may or may not have taken them. When their lease runs out they are
marked failed with that reason and not sent again: a customer never gets the same SMS twice,
at the price that such a message may show failed though it arrived. (Providers have no
idempotency key for SMS, so there is nothing better to ask them.)
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import aiohttp

from bookflow_notification import domain, recording
from bookflow_notification.channels import SendFailed
from bookflow_notification.claiming import Claiming
from bookflow_notification.sending import Sender
from bookflow_notification.settings import NotificationSettings
from bookflow_notification.upkeep import Upkeep
from bookflow_runtime import context
from bookflow_runtime.database import Database
from bookflow_runtime.loop import run_rounds


class Dispatcher:
    def __init__(self, db: Database, settings: NotificationSettings, *, clock: Callable[[], datetime] = lambda: datetime.now(UTC),
                 tenants_caught_up: Callable[[], datetime | None] = lambda: None) -> None:
        self.db = db
        self.settings = settings
        self.clock = clock
        self.policy = domain.RetryPolicy(
            settings.attempts_per_provider, settings.retry_first_backoff_seconds, settings.retry_max_backoff_seconds,
            timedelta(seconds=settings.retry_window_seconds) if settings.retry_window_seconds else None,
        )
        self.claiming = Claiming(settings)
        self.upkeep = Upkeep(settings, tenants_caught_up)
        self.sender: Sender | None = None

    async def run(self) -> None:
        timeout = aiohttp.ClientTimeout(total=self.settings.provider_timeout_seconds)
        connector = aiohttp.TCPConnector(limit=0, limit_per_host=self.settings.provider_concurrency)
        async with aiohttp.ClientSession(timeout=timeout, connector=connector) as http:
            self.sender = Sender(self.settings, http)
            await asyncio.gather(*(self._lane() for _ in range(self.settings.dispatch_lanes)))

    async def _lane(self) -> None:
        """One round after another. Several lanes run at once, so that one lane's provider calls
        overlap another's claim and record (each claims its own rows: SKIP LOCKED)."""
        await run_rounds("dispatcher", self._round, recording.queued)

    async def _round(self) -> float:
        handled = await self.dispatch_once()
        return 0 if handled >= self.settings.dispatch_batch_size else self.settings.dispatch_poll_seconds

    async def dispatch_once(self) -> int:
        """Claim, send and record one batch; the number of messages that were due."""
        assert self.sender is not None
        now = self.clock()
        async with self.db.transaction() as session:
            await self.upkeep.run(session, now)
            due, jobs = await self.claiming.claim(session, now)
        if not jobs:
            return due
        outcomes = await asyncio.gather(*(self.sender.send(job, now) for job in jobs))
        recorded_at = self.clock()
        async with self.db.transaction() as session:
            record = recording.Recording()
            for job, outcome in zip(jobs, outcomes, strict=True):
                with context.conversation(job.message.correlation_id, tenant_id=job.message.tenant_id):
                    if isinstance(outcome, SendFailed):
                        await recording.record_failure(session, job.message, job.provider_count, outcome, self.policy, recorded_at)
                    else:
                        record.accepted(job.message, outcome, recorded_at)
            await record.store(session)
        return due
