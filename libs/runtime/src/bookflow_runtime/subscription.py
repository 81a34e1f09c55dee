"""A consumer group reading one topic with aiokafka: fetch a batch, have the `Delivery` store
its effects, and only then commit the batch's offsets.

Why plain aiokafka and not FastStream (measured, see README "Why plain aiokafka"): our delivery
needs the raw records (inbox, one transaction per batch, dead letters per record), which
FastStream's typed subscribers cannot hand over without decoding every record a second way; its
batch path with decoding switched off still cost 1.5× the CPU per message and twice the memory
of this loop, and a stop waited out its whole graceful timeout.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError, KafkaError

from bookflow_runtime.consumer import Delivery
from bookflow_runtime.loop import Backoff

_log = logging.getLogger(__name__)

_JOIN_WAIT_SECONDS = 10.0
_JOIN_WARNING_SECONDS = 60.0
_IDLE_AFTER_SECONDS = 1.0


@dataclass(frozen=True)
class Progress:
    """How far one consumer has read, per partition: everything published on the `caught_up`
    partitions before `caught_up_at` has been handled. `partitions` are all of the topic's, so a
    service with several replicas can tell when their reports together cover the whole topic."""

    caught_up_at: datetime | None
    caught_up: frozenset[int]
    partitions: frozenset[int]


class Subscription:
    """Reads `topic` in group `group` and hands each fetched batch to `delivery`."""

    def __init__(self, delivery: Delivery, *, bootstrap_servers: str, group: str, batch_size: int,
                 session_timeout_ms: int, fetch_wait_ms: tuple[int, int]) -> None:
        """`fetch_wait_ms`: how long a fetch may wait for records while there is work, and once
        the consumer has been idle for `_IDLE_AFTER_SECONDS`."""
        self.delivery = delivery
        self.group = group
        self.topic = delivery.consumer.topic
        self._kafka = AIOKafkaConsumer(
            bootstrap_servers=bootstrap_servers,
            group_id=group,
            enable_auto_commit=False,  # offsets are committed after the effect is stored
            auto_offset_reset="earliest",
            session_timeout_ms=session_timeout_ms,
            heartbeat_interval_ms=max(1000, session_timeout_ms // 3),
            max_poll_records=batch_size,
            fetch_max_wait_ms=fetch_wait_ms[0],
        )
        self._busy_wait_ms, self._idle_wait_ms = fetch_wait_ms
        self._last_records_at = time.monotonic()
        self._batch_size = batch_size
        self._stopping = False
        self._idle = asyncio.Event()
        self._idle.set()
        self.caught_up_at: datetime | None = None
        """The start of the last fetch after which this consumer had handled everything the topic
        held: whatever was published before that instant has been handled."""
        self._caught_up_partitions: frozenset[int] = frozenset()
        self._started_at = time.monotonic()
        self._warned = False

    async def start(self) -> None:
        """Connect and join the group, waiting at most `_JOIN_WAIT_SECONDS` for partitions: a join
        normally takes a few seconds, but waits until the members of a process that died without
        leaving time out (a session timeout or more, far longer on a loaded broker). Past the
        bound the service starts serving and the join goes on in the background; the records
        published in between are read once the partitions are assigned."""
        await self._kafka.start()
        self._kafka.subscribe([self.topic])
        self._started_at = time.monotonic()
        while not self._kafka.assignment() and time.monotonic() - self._started_at < _JOIN_WAIT_SECONDS:
            await asyncio.sleep(0.05)
        if not self._kafka.assignment():
            _log.info("%s: no partitions yet after %.0f s; starting, the join goes on", self.group, _JOIN_WAIT_SECONDS)

    async def run(self) -> None:
        """Fetch, handle, commit, until `stop`."""
        backoff = Backoff()
        while not self._stopping:
            fetched_at = datetime.now(UTC)
            try:
                batch = await self._kafka.getmany(timeout_ms=500, max_records=self._batch_size)
            except KafkaError as exc:
                _log.warning("%s: fetch failed, retrying in %.1f s: %r", self.group, backoff.next, exc)
                await backoff.pause()
                continue
            if not batch:
                await self._note_if_caught_up(fetched_at)
                self._warn_if_still_unassigned()
                self._pace(busy=time.monotonic() - self._last_records_at < _IDLE_AFTER_SECONDS)
                continue
            self._last_records_at = time.monotonic()
            self._pace(busy=True)
            if self._stopping:
                continue
            backoff.reset()
            records = [record for part in batch.values() for record in part]
            self._idle.clear()
            try:
                await self.delivery.handle(records)
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 (a bug of ours: read the batch again rather than skip it)
                _log.exception("%s: handling a batch failed; it will be read again", self.group)
                self._rewind(batch)
                await backoff.pause()
                continue
            finally:
                self._idle.set()
            await self._commit({tp: part[-1].offset + 1 for tp, part in batch.items()})
            await self._note_if_caught_up(fetched_at)

    def _pace(self, *, busy: bool) -> None:
        """Poll briskly while records come, gently when none have for a while: some twenty-five
        consumers polling every 50 ms kept an idle system at half a core, most of it the broker's.
        aiokafka's fetcher reads the wait from this attribute for every fetch it sends, and has
        no public way to change it (aiokafka is pinned in requirements/constraints.txt)."""
        fetcher = self._kafka._fetcher  # noqa: SLF001
        if fetcher is not None:
            fetcher._fetch_max_wait_ms = self._busy_wait_ms if busy else self._idle_wait_ms  # noqa: SLF001

    def _warn_if_still_unassigned(self) -> None:
        if self._warned or self._kafka.assignment() or time.monotonic() - self._started_at < _JOIN_WARNING_SECONDS:
            return
        self._warned = True
        _log.warning("%s: no partitions assigned %.0f s after start; still joining the group (members of a "
                     "process that died without leaving must time out first)", self.group, _JOIN_WARNING_SECONDS)

    async def _note_if_caught_up(self, fetched_at: datetime) -> None:
        assigned = self._kafka.assignment()
        if not assigned:
            return
        for tp in assigned:
            highwater = self._kafka.highwater(tp)
            if highwater is None or await self._kafka.position(tp) < highwater:
                return
        self.caught_up_at = fetched_at
        self._caught_up_partitions = frozenset(tp.partition for tp in assigned)

    def progress(self) -> Progress:
        """`caught_up_at` with the partitions it holds for (those assigned when it was noted:
        partitions assigned since are not caught up until the next note)."""
        return Progress(self.caught_up_at, self._caught_up_partitions,
                        frozenset(self._kafka.partitions_for_topic(self.topic) or ()))

    async def _commit(self, offsets: dict[TopicPartition, int]) -> None:
        try:
            await self._kafka.commit(offsets)
        except (CommitFailedError, IllegalStateError) as exc:
            # The partitions moved to another member meanwhile: it reads them from the last
            # commit, and the inbox absorbs what this member already handled.
            _log.info("%s: offsets not committed (%s); the next owner repeats them", self.group, type(exc).__name__)
        except KafkaError as exc:
            _log.warning("%s: committing offsets failed (%r); the records may be handled again", self.group, exc)

    def _rewind(self, batch: dict) -> None:
        for tp, part in batch.items():
            try:
                self._kafka.seek(tp, part[0].offset)
            except IllegalStateError:
                pass  # no longer ours

    async def stop(self, grace_seconds: float) -> bool:
        """Stop fetching, let the batch in hand finish for up to `grace_seconds`, leave the
        group. False when the batch had to be abandoned (its offsets are not committed, so the
        next owner handles it again and the inbox keeps that from doing anything twice)."""
        self._stopping = True
        finished = True
        try:
            await asyncio.wait_for(self._idle.wait(), grace_seconds)
        except TimeoutError:
            finished = False
        return finished

    async def close(self) -> None:
        try:
            await asyncio.wait_for(self._kafka.stop(), 5)
        except (TimeoutError, KafkaError) as exc:
            _log.warning("%s: leaving the group did not finish: %r", self.group, exc)

    def assigned(self) -> set[TopicPartition]:
        return set(self._kafka.assignment())
