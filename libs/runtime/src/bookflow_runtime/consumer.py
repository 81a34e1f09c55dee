"""How every service consumes: decode the envelope, skip what the inbox has seen, run the handler
in one transaction with the inbox row, and only then commit the Kafka offset.

A message that cannot be decoded, or whose handler fails `handler_attempts` times, goes to the
dead-letter topic with the reason and the consumer carries on. Outages of the database or the
broker are not the message's fault: those are retried without end and never dead-lettered.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import sqlalchemy.exc
from aiokafka.errors import KafkaError
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from bookflow_contracts import Envelope, Message
from bookflow_contracts.envelope import UnknownMessageType
from bookflow_runtime import context, faults, kafka, metrics
from bookflow_runtime.inbox import first_receipts

if TYPE_CHECKING:
    from faststream.kafka.message import KafkaMessage

    from bookflow_runtime.service import ServiceRuntime

_log = logging.getLogger(__name__)

Handler = Callable[[AsyncSession, Any, Envelope], Awaitable[None]]
"""A handler gets the open session, the typed message and its envelope; it never commits."""

BatchHandler = Callable[[AsyncSession, list[tuple[Any, Envelope]]], Awaitable[None]]
"""Handles many messages of one type in one call, so that a batch of records costs a few
statements rather than a few per record; otherwise like `Handler`."""

_INFRASTRUCTURE_ERRORS = (
    sqlalchemy.exc.OperationalError,
    sqlalchemy.exc.InterfaceError,
    sqlalchemy.exc.DisconnectionError,
    OSError,
    TimeoutError,
    KafkaError,
)


@dataclass(frozen=True)
class Consumer:
    """One consumer group reading one topic; `handlers` maps message types to handlers, and
    `batch_handlers` to handlers that take consecutive messages of their type together.
    Message types on the topic without a handler are not this consumer's business."""

    name: str
    topic: str
    handlers: Mapping[type[Message], Handler] = field(default_factory=dict)
    batch_handlers: Mapping[type[Message], BatchHandler] = field(default_factory=dict)

    def handler_for(self, message_type: str) -> tuple[Handler | BatchHandler, bool] | None:
        """The handler for a message type, and whether it takes a batch."""
        return self._by_type.get(message_type)

    @functools.cached_property
    def _by_type(self) -> dict[str, tuple[Handler | BatchHandler, bool]]:
        return {
            **{model.message_type: (handler, False) for model, handler in self.handlers.items()},
            **{model.message_type: (handler, True) for model, handler in self.batch_handlers.items()},
        }

    @property
    def message_types(self) -> list[type[Message]]:
        return [*self.handlers, *self.batch_handlers]


@dataclass(frozen=True)
class _Work:
    """A decoded record this consumer handles."""

    record: Any
    handler: Handler | BatchHandler
    batched: bool
    message: Message
    envelope: Envelope


class Delivery:
    """Handles a batch of consumed records for one consumer, then acknowledges them.

    The whole batch is handled in one transaction (one commit, one offset commit: the way to
    thousands of messages a second). If a handler fails, the batch is rolled back and handled
    again one record at a time, so only the failing record is retried and dead-lettered.
    """

    def __init__(self, runtime: "ServiceRuntime", consumer: Consumer) -> None:
        self.runtime = runtime
        self.consumer = consumer
        self.label = f"{runtime.settings.service_name}.{consumer.name}"

    async def __call__(self, msg: "KafkaMessage") -> None:
        raw = msg.raw_message
        records = raw if isinstance(raw, tuple) else (raw,)
        try:
            await self._handle(records)
        except BaseException:
            await msg.nack()  # rewind: the records come again instead of being skipped
            raise
        await msg.ack()

    async def _handle(self, records: tuple[Any, ...]) -> None:
        work = [w for w in [await self._decode(r) for r in records] if w is not None]
        if len(work) > 1 and await self._run_together(work):
            return
        for item in work:
            await self._run_alone(item)

    async def _decode(self, record: Any) -> _Work | None:
        """The record as work, or None: dead-lettered if malformed, skipped if not ours."""
        try:
            envelope = Envelope.model_validate_json(record.value or b"")
        except ValidationError as exc:
            await self._dead_letter(record, "undecodable", f"not a bookflow envelope: {_short(exc)}")
            return None
        found = self.consumer.handler_for(envelope.type)
        if found is None:
            _log.debug("%s ignores %s", self.label, envelope.type)
            return None
        try:
            message = envelope.message()
        except (ValidationError, UnknownMessageType) as exc:
            await self._dead_letter(record, "invalid", f"invalid {envelope.type} payload: {_short(exc)}")
            return None
        return _Work(record, *found, message, envelope)

    async def _run_together(self, work: list[_Work]) -> bool:
        """Handle the batch in one transaction; False if a handler failed (nothing is kept)."""
        backoff = 0.1
        while True:
            try:
                await self._apply(work)
                return True
            except _INFRASTRUCTURE_ERRORS as exc:
                _log.warning("%s: infrastructure error, retrying in %.1f s: %r", self.label, backoff, exc)
            except Exception as exc:  # noqa: BLE001 (the records are retried one by one)
                _log.info("%s: a batch of %d failed (%r); handling its records one by one", self.label, len(work), exc)
                return False
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 5.0)

    async def _run_alone(self, item: _Work) -> None:
        failures, backoff = 0, 0.1
        while True:
            try:
                await self._apply([item])
                return
            except _INFRASTRUCTURE_ERRORS as exc:
                _log.warning("%s: infrastructure error, retrying in %.1f s: %r", self.label, backoff, exc)
            except Exception as exc:
                failures += 1
                with self._conversation(item.envelope):
                    if failures >= self.runtime.settings.handler_attempts:
                        _log.exception("%s failed %d times on %s", self.label, failures, item.envelope.type)
                        await self._dead_letter(
                            item.record, "handler-failed", f"{type(exc).__name__}: {exc} (after {failures} attempts)"
                        )
                        return
                    metrics.HANDLER_RETRIES.labels(self.label).inc()
                    _log.warning("%s failed on %s, attempt %d: %r", self.label, item.envelope.type, failures, exc)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 5.0)

    async def _apply(self, work: list[_Work]) -> None:
        """Run the handlers with their inbox rows in one transaction; duplicates are skipped.
        Consecutive messages for one batch handler go to it in one call, in their order."""
        handled, duplicates = [], []
        async with self.runtime.db.transaction() as session:
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
                with self._conversation(item.envelope):
                    await item.handler(session, item.message, item.envelope)
        faults.point("consumer.after-commit")
        for item in handled:
            metrics.MESSAGES_HANDLED.labels(self.label, item.envelope.type).inc()
        for item in duplicates:
            metrics.DUPLICATES_SKIPPED.labels(self.label).inc()
            with self._conversation(item.envelope):
                _log.info("%s skipped duplicate %s %s", self.label, item.envelope.type, item.envelope.event_id)

    _conversation = staticmethod(context.conversation_of)

    async def _dead_letter(self, record: Any, reason: str, detail: str) -> None:
        metrics.DEAD_LETTERED.labels(self.label, reason).inc()
        await kafka.dead_letter(self.runtime.producer, record, consumer=self.label, reason=f"{reason}: {detail}")


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
    text = str(exc).replace("\n", " ")
    return text if len(text) < 500 else text[:500] + "…"


def group_id(service: str, consumer: str) -> str:
    """The Kafka consumer group of one consumer of one service."""
    return f"bookflow.{service}.{consumer}"


