"""How every service handles what it consumes: decode the envelope, skip what the inbox has seen,
run the handler in one transaction with the inbox row; the caller commits the Kafka offset after.

A message that cannot be decoded, whose handler refuses it (`Undeliverable`: an unknown tenant,
say), or whose handler fails `handler_attempts` times goes to the dead-letter topic with the
reason, and the consumer carries on. Outages of the database or the broker are not the message's
fault: those are retried without end and never dead-lettered.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from aiokafka.structs import ConsumerRecord
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from bookflow_contracts import Envelope, Message
from bookflow_contracts.envelope import UnknownMessageType
from bookflow_runtime import context, faults, kafka, metrics
from bookflow_runtime.database import Database
from bookflow_runtime.errors import Undeliverable
from bookflow_runtime.inbox import first_receipts
from bookflow_runtime.loop import Backoff, in_turns
from bookflow_runtime.outages import is_outage

_log = logging.getLogger(__name__)

Handler = Callable[[AsyncSession, Any, Envelope], Awaitable[None]]
"""A handler gets the open session, the typed message and its envelope; it never commits."""

BatchHandler = Callable[[AsyncSession, list[tuple[Any, Envelope]]], Awaitable[None]]
"""Handles many messages of one type in one call, so that a batch of records costs a few
statements rather than a few per record; otherwise like `Handler`."""

@dataclass(frozen=True)
class Consumer:
    """One consumer group reading one topic; `handlers` maps message types to handlers, and
    `batch_handlers` to handlers that take consecutive messages of their type together.
    Message types on the topic without a handler are not this consumer's business: a record
    whose `event-type` header names one is passed over unread. Where a topic's record key says
    whom a record is for (`reminder.due`: the timer's owner), `keys` names the key prefixes this
    consumer handles, and a record of bookflow's (one with an `event-type` header) under another
    key is passed over unread too; the handler still checks, for records without the header.
    `reports_undecodable=False` for a second consumer of a topic whose first one dead-letters
    what cannot be read (one dead letter a record, not two). `follows` maps types that another
    consumer of the topic answers for to handlers of this one's that take them in their place
    among its own records; one of them that cannot be read is passed over (the other reports it)."""

    name: str
    topic: str
    handlers: Mapping[type[Message], Handler] = field(default_factory=dict)
    batch_handlers: Mapping[type[Message], BatchHandler] = field(default_factory=dict)
    keys: tuple[str, ...] = ()
    reports_undecodable: bool = True
    follows: Mapping[type[Message], Handler] = field(default_factory=dict)

    def passes_over(self, record: ConsumerRecord) -> bool:
        """Whether the record is not this consumer's business by its headers and key alone."""
        declared = _declared_type(record)
        if declared is None:
            return False  # no header to go by: decoded, and dead-lettered if it is no envelope
        if self.handler_for(declared) is None:
            return True  # a type the topic's other consumers handle
        return bool(self.keys) and not (record.key or b"").decode(errors="replace").startswith(self.keys)

    def handler_for(self, message_type: str) -> tuple[Handler | BatchHandler, bool] | None:
        """The handler for a message type, and whether it takes a batch."""
        return self._by_type.get(message_type)

    @functools.cached_property
    def _by_type(self) -> dict[str, tuple[Handler | BatchHandler, bool]]:
        return {
            **{model.message_type: (handler, False) for model, handler in self.follows.items()},
            **{model.message_type: (handler, False) for model, handler in self.handlers.items()},
            **{model.message_type: (handler, True) for model, handler in self.batch_handlers.items()},
        }

    @property
    def message_types(self) -> list[type[Message]]:
        return [*self.handlers, *self.batch_handlers, *self.follows]

    def reports(self, message_type: str) -> bool:
        """Whether this consumer dead-letters a record of this type that it cannot read."""
        return not any(model.message_type == message_type for model in self.follows)


def group_id(service: str, consumer: str) -> str:
    """The Kafka consumer group of one consumer of one service."""
    return f"bookflow.{service}.{consumer}"


@dataclass(frozen=True)
class _Work:
    """A decoded record this consumer handles."""

    record: ConsumerRecord
    handler: Handler | BatchHandler
    batched: bool
    message: Message
    envelope: Envelope


class Delivery:
    """Handles batches of consumed records for one consumer.

    A batch is handled in one transaction (one commit, then one offset commit: the way to
    thousands of messages a second). If a handler fails, the batch is rolled back and handled
    again one record at a time, so only the failing record is retried and dead-lettered.
    `handle` returns when every record is handled or dead-lettered; it never skips one.
    """

    def __init__(self, consumer: Consumer, db: Database, producer: AIOKafkaProducer, *, label: str, handler_attempts: int) -> None:
        self.consumer = consumer
        self.db = db
        self.producer = producer
        self.label = label
        self.handler_attempts = handler_attempts

    async def handle(self, records: Sequence[ConsumerRecord]) -> None:
        work = [w async for r in in_turns(records) if (w := await self._decode(r)) is not None]
        if len(work) > 1 and await self._run_together(work):
            return
        for item in work:
            await self._run_alone(item)

    async def _decode(self, record: ConsumerRecord) -> _Work | None:
        """The record as work, or None: dead-lettered if malformed, skipped if not ours."""
        if self.consumer.passes_over(record):
            return None  # not ours, and not worth decoding
        try:
            envelope = Envelope.model_validate_json(record.value or b"")
        except ValidationError as exc:
            if self.consumer.reports_undecodable:
                await self._dead_letter(record, "undecodable", f"not a bookflow envelope: {_short(exc)}")
            return None
        found = self.consumer.handler_for(envelope.type)
        if found is None:
            _log.debug("%s ignores %s", self.label, envelope.type)
            return None
        try:
            message = envelope.message()
        except (ValidationError, UnknownMessageType) as exc:
            if self.consumer.reports(envelope.type):
                await self._dead_letter(record, "invalid", f"invalid {envelope.type} payload: {_short(exc)}")
            return None
        return _Work(record, *found, message, envelope)

    async def _run_together(self, work: list[_Work]) -> bool:
        """Handle the batch in one transaction; False if a handler failed (nothing is kept)."""
        backoff = Backoff()
        while True:
            try:
                await self._apply(work)
                return True
            except Exception as exc:  # noqa: BLE001 (the records are retried one by one)
                if is_outage(exc):
                    _log.warning("%s: database or broker unavailable, retrying in %.1f s: %r", self.label, backoff.next, exc)
                    await backoff.pause()
                    continue
                _log.info("%s: a batch of %d failed (%s); handling its records one by one", self.label, len(work), type(exc).__name__)
                return False
            await backoff.pause()

    async def _run_alone(self, item: _Work) -> None:
        failures, backoff = 0, Backoff()
        while True:
            try:
                await self._apply([item])
                return
            except Undeliverable as exc:
                with context.conversation_of(item.envelope):
                    await self._dead_letter(item.record, exc.reason, str(exc))
                return
            except Exception as exc:
                if is_outage(exc):
                    _log.warning("%s: database or broker unavailable, retrying in %.1f s: %r", self.label, backoff.next, exc)
                    await backoff.pause()
                    continue
                failures += 1
                with context.conversation_of(item.envelope):
                    if failures >= self.handler_attempts:
                        _log.exception("%s failed %d times on %s", self.label, failures, item.envelope.type)
                        await self._dead_letter(
                            item.record, "handler-failed", f"{type(exc).__name__}: {exc} (after {failures} attempts)"
                        )
                        return
                    metrics.HANDLER_RETRIES.labels(self.label).inc()
                    _log.warning("%s failed on %s, attempt %d: %s", self.label, item.envelope.type, failures, type(exc).__name__)
            await backoff.pause()

    async def _apply(self, work: list[_Work]) -> None:
        """Run the handlers with their inbox rows in one transaction; duplicates are skipped.
        Consecutive messages for one batch handler go to it in one call, in their order."""
        handled, duplicates = [], []
        async with self.db.transaction() as session:
            fresh = await first_receipts(session, self.label, [item.envelope.event_id for item in work])
            for item in work:
                if item.envelope.event_id in fresh:
                    fresh.discard(item.envelope.event_id)  # the same event twice in one batch: once
                    handled.append(item)
                else:
                    duplicates.append(item)
            for run in _runs(handled):
                if run[0].batched:
                    await run[0].handler(session, [(item.message, item.envelope) for item in run])
                    continue
                item = run[0]
                with context.conversation_of(item.envelope):
                    await item.handler(session, item.message, item.envelope)
        faults.point("consumer.after-commit")
        for item in handled:
            metrics.MESSAGES_HANDLED.labels(self.label, item.envelope.type).inc()
        for item in duplicates:
            metrics.DUPLICATES_SKIPPED.labels(self.label).inc()
            with context.conversation_of(item.envelope):
                _log.info("%s skipped duplicate %s %s", self.label, item.envelope.type, item.envelope.event_id)

    async def _dead_letter(self, record: ConsumerRecord, reason: str, detail: str) -> None:
        """Dead-letter the record; a broker outage is waited out, the record is never dropped."""
        metrics.DEAD_LETTERED.labels(self.label, reason).inc()
        backoff = Backoff()
        while True:
            try:
                await kafka.dead_letter(self.producer, record, consumer=self.label, reason=f"{reason}: {detail}")
                return
            except KafkaError as exc:
                _log.warning("%s: cannot dead-letter yet, retrying in %.1f s: %r", self.label, backoff.next, exc)
                await backoff.pause()


def _declared_type(record: ConsumerRecord) -> str | None:
    """The message type the record's `event-type` header names, if it has one."""
    for key, value in record.headers or ():
        if key == "event-type":
            return value.decode(errors="replace")
    return None


def _runs(items: list[_Work]) -> list[list[_Work]]:
    """Items in order, grouped: consecutive items of one batch handler together, others alone."""
    runs: list[list[_Work]] = []
    for item in items:
        if runs and item.batched and runs[-1][0].batched and runs[-1][0].handler is item.handler:
            runs[-1].append(item)
        else:
            runs.append([item])
    return runs


def _short(exc: Exception) -> str:
    """What is wrong, without the values (a message's values may be a customer's details)."""
    if isinstance(exc, ValidationError):
        text = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'value'}: {e['msg']}" for e in exc.errors(include_input=False, include_url=False))
    else:
        text = str(exc).replace("\n", " ")
    return text if len(text) < 500 else text[:500] + "…"
