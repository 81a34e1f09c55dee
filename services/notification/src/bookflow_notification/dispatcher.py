"""The dispatcher: the loop that sends queued messages.

Each round has three steps, so that no database transaction stays open while a provider thinks:
1. claim (claiming.py): in one short transaction, lock due queued messages, decide each one, and
   mark those that go `sending`, rendered, with a lease;
2. send (sending.py): call the channels concurrently, outside any transaction;
3. record (recording.py): in one transaction, store each outcome (sent, retry later, next
   provider, next channel, failed) with its status event in the outbox.
Between rounds, upkeep.py deals with expired leases and messages waiting for their tenant.

Nothing a withdrawal could stop (a message with `regarding`) is claimed while the withdrawals
consumer is behind: its withdrawal may be on the topic, not yet read (upkeep.py,
`withdrawals_behind`; consumers.py on why withdrawals have a consumer of their own). A message
withdrawn while it was `sending` is withdrawn at its next claim.

Step 3 is retried through a database outage: the answers are known and are recorded as they
were. A stop (cancellation) during step 2 records what was answered, and marks the calls still
in flight failed with "outcome unknown" at once. A crash between 2 and 3 (a window of one
batch's slowest provider call) leaves messages `sending` whose provider may or may not have
taken them; when their lease runs out they are marked failed the same way and not sent again: a
customer never gets the same SMS twice, at the price that such a message may show failed though
it arrived. (Providers have no idempotency key for SMS, so there is nothing better to ask them.)
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import aiohttp

from bookflow_notification import domain, recording
from bookflow_notification.channels import Accepted, SendFailed
from bookflow_notification.claiming import Claiming, Job
from bookflow_notification.sending import Sender
from bookflow_notification.settings import NotificationSettings
from bookflow_notification.upkeep import Upkeep
from bookflow_runtime import context
from bookflow_runtime.database import Database
from bookflow_runtime.loop import Backoff, run_rounds, together
from bookflow_runtime.outages import is_outage

_log = logging.getLogger(__name__)


class Dispatcher:
    def __init__(self, db: Database, settings: NotificationSettings, *, clock: Callable[[], datetime] = lambda: datetime.now(UTC),
                 tenants_caught_up: Callable[[], datetime | None] = lambda: None,
                 withdrawals_caught_up: Callable[[], datetime | None] = lambda: None) -> None:
        self.db = db
        self.settings = settings
        self.clock = clock
        self.policy = domain.RetryPolicy(
            settings.attempts_per_provider, settings.retry_first_backoff_seconds, settings.retry_max_backoff_seconds,
            timedelta(seconds=settings.retry_window_seconds) if settings.retry_window_seconds else None,
        )
        self.claiming = Claiming(settings)
        self.upkeep = Upkeep(settings, tenants_caught_up, withdrawals_caught_up)
        self.sender: Sender | None = None
        self._holding: str | None = None  # why messages that can be withdrawn are held, as last logged

    async def run(self) -> None:
        timeout = aiohttp.ClientTimeout(total=self.settings.provider_timeout_seconds)
        connector = aiohttp.TCPConnector(limit=0, limit_per_host=self.settings.provider_concurrency)
        async with aiohttp.ClientSession(timeout=timeout, connector=connector) as http:
            self.sender = Sender(self.settings, http)
            await together(*(self._lane() for _ in range(self.settings.dispatch_lanes)))

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
            behind = await self.upkeep.withdrawals_behind(session)
            self._note_holding(behind)
            due, jobs = await self.claiming.claim(session, now, withdrawable=behind is None)
        if not jobs:
            return due
        outcomes = await self._send(jobs, now)
        await self._record(jobs, outcomes)
        return due

    def _note_holding(self, behind: str | None) -> None:
        if behind != self._holding and (behind is None or self._holding is None):
            if behind:
                _log.info("messages that can be withdrawn are held: %s", behind)
            else:
                _log.info("the withdrawals consumers have caught up: messages that can be withdrawn go out again")
        self._holding = behind

    async def _send(self, jobs: list[Job], now: datetime) -> list[Accepted | SendFailed | None]:
        """Each job's answer. Stopped meanwhile: what was answered is recorded, the calls still in
        flight are recorded as of unknown outcome (None), and the stop goes on."""
        assert self.sender is not None
        calls = [asyncio.ensure_future(self.sender.send(job, now)) for job in jobs]
        try:
            await together(*calls)
        except asyncio.CancelledError:
            answers = [c.result() if c.done() and not c.cancelled() else None for c in calls]
            _log.warning("stopped while handing %d messages to their channels; recording what is known",
                         sum(1 for a in answers if a is None))
            await self._record(jobs, answers, retry=False)
            raise
        return [c.result() for c in calls]

    async def _record(self, jobs: list[Job], outcomes: list[Accepted | SendFailed | None], *, retry: bool = True) -> None:
        """Record the answers in one transaction. A database outage is waited out (`retry`): the
        answers are known, and left unrecorded they would end as "outcome unknown"."""
        backoff = Backoff()
        while True:
            try:
                await self._record_once(jobs, outcomes)
                return
            except Exception as exc:
                if not (retry and is_outage(exc)):
                    raise
                _log.warning("recording %d answers: database unavailable, retrying in %.1f s: %r", len(jobs), backoff.next, exc)
                await backoff.pause()

    async def _record_once(self, jobs: list[Job], outcomes: list[Accepted | SendFailed | None]) -> None:
        recorded_at = self.clock()
        async with self.db.transaction() as session:
            record = recording.Recording()
            for job, outcome in zip(jobs, outcomes, strict=True):
                with context.conversation(job.message.correlation_id, tenant_id=job.message.tenant_id):
                    if outcome is None:
                        await recording.fail(session, job.message, recording.outcome_unknown(job.message), recorded_at)
                    elif isinstance(outcome, SendFailed):
                        await recording.record_failure(session, job.message, job.provider_count, outcome, self.policy, recorded_at)
                    else:
                        record.accepted(job.message, outcome, recorded_at)
            await record.store(session)
