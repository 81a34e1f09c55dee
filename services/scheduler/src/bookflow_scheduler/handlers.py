"""What the scheduler does: keep timer requests, and fire due timers through the outbox."""
from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime

from prometheus_client import Counter, Gauge, Histogram
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from bookflow_contracts import CancelTimer, CancelTimersWithPrefix, Envelope, SetTimer, topics
from bookflow_runtime import faults, outbox
from bookflow_runtime.database import Database, after_commit
from bookflow_runtime.loop import Wakeup, run_rounds
from bookflow_scheduler import domain, storage

_log = logging.getLogger(__name__)

TIMERS_FIRED = Counter("bookflow_timers_fired_total", "Timers fired")
TIMER_LATENESS = Histogram(
    "bookflow_timer_lateness_seconds", "How late timers were claimed after their instant",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5, 30, 300),
)
TIMERS_PENDING = Gauge("bookflow_timers_pending", "Timers waiting for their instant (counted every 10 s)")


async def set_timer(session: AsyncSession, command: SetTimer, envelope: Envelope) -> None:
    """Set or reschedule a timer; the firing loop hears of it when the transaction commits."""
    await storage.set_timer(
        session, envelope.tenant_id, command.timer_key, command.due_at, command.payload,
        correlation_id=envelope.correlation_id, set_by_event_id=str(envelope.event_id),
    )
    after_commit(session, lambda: timers_set.notice(command.due_at))


async def cancel_timer(session: AsyncSession, command: CancelTimer, envelope: Envelope) -> None:
    """Cancel one pending timer; nothing happens if it fired or never existed."""
    await storage.cancel(session, envelope.tenant_id, key=command.timer_key)


async def cancel_timers_with_prefix(session: AsyncSession, command: CancelTimersWithPrefix, envelope: Envelope) -> None:
    """Cancel every pending timer of the tenant whose key starts with the prefix."""
    count = await storage.cancel(session, envelope.tenant_id, prefix=command.prefix)
    _log.info("cancelled %d timers under %s", count, command.prefix)


class TimersSet:
    """Told of every timer set in this process once its transaction commits; wakes the firing
    loop when the new instant comes before the one it planned to wake at."""

    def __init__(self) -> None:
        self.wakeup = Wakeup()
        self.planned_wake: datetime | None = None

    def notice(self, due_at: datetime) -> None:
        if self.planned_wake is None or due_at < self.planned_wake:
            self.wakeup.wake()


timers_set = TimersSet()


class TimerFiring:
    """The firing loop: sleeps until the next pending instant (or a newly set earlier one), then
    claims due timers in batches and writes their `reminder.due` to the outbox in the same
    transaction that marks them fired. A bounded poll covers timers set by other replicas."""

    def __init__(
        self,
        db: Database,
        *,
        batch_size: int = 1000,
        poll_seconds: float = 1.0,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.db = db
        self.batch_size = batch_size
        self.poll_seconds = poll_seconds
        self.clock = clock
        self._pending_counted = float("-inf")
        self._connection: AsyncConnection | None = None

    @contextlib.asynccontextmanager
    async def _transaction(self) -> AsyncIterator[AsyncSession]:
        """A round's transaction on the connection the loop keeps between rounds: taking one
        from the pool for every round cost a ping (pre-ping) and a checkout, and at 1,000 timers
        a second there are hundreds of rounds a second. A failed round drops the connection; the
        next takes a fresh one from the pool."""
        if self._connection is None:
            self._connection = await self.db.engine.connect()
        try:
            async with AsyncSession(bind=self._connection, expire_on_commit=False) as session, session.begin():
                yield session
        except BaseException:
            await self._release()
            raise

    async def _release(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(Exception):
                await connection.close()

    async def fire_due(self) -> tuple[int, datetime | None]:
        """Fire one batch of due timers; returns how many fired and the next pending instant.
        One transaction of four round trips when timers fire (BEGIN, the claim that also marks
        them fired and reads the next instant, the outbox insert with its NOTIFY, COMMIT), on a
        connection kept between rounds."""
        fired_at = self.clock()
        async with self._transaction() as session:
            due, next_due = await storage.claim_due(session, fired_at, self.batch_size)
            if due:
                await outbox.put_many(
                    session,
                    (
                        (Envelope.wrap(domain.reminder_for(t, fired_at), tenant_id=t.tenant_id, occurred_at=fired_at,
                                       event_id=domain.firing_event_id(t), correlation_id=t.correlation_id,
                                       causation_id=t.set_by_event_id), topics.REMINDER_DUE)
                        for t in due
                    ),
                )
                faults.point("scheduler.mid-batch")  # claimed and written, not committed
            if time.monotonic() - self._pending_counted > 10:  # a count of a million rows is not free
                TIMERS_PENDING.set(await storage.count_pending(session))
                self._pending_counted = time.monotonic()
        TIMERS_FIRED.inc(len(due))
        for t in due:
            TIMER_LATENESS.observe(max(0.0, (fired_at - t.due_at).total_seconds()))
        return len(due), next_due

    def seconds_to_sleep(self, next_due: datetime | None) -> float:
        now = self.clock()
        if next_due is None:
            timers_set.planned_wake = None
            return self.poll_seconds
        # A due timer another replica holds locked: look again very soon, without spinning.
        delay = min(max(0.002, (next_due - now).total_seconds()), self.poll_seconds)
        timers_set.planned_wake = next_due
        return delay

    async def run(self) -> None:
        """Fire until cancelled; database outages are waited out (see run_rounds)."""
        try:
            await run_rounds("timer firing", self._round, timers_set.wakeup)
        finally:
            await self._release()

    async def _round(self) -> float:
        fired, next_due = await self.fire_due()
        return 0 if fired >= self.batch_size else self.seconds_to_sleep(next_due)
