"""The composition every service process shares: database, producer, outbox relay, consumers,
background loops, the broker watch and the HTTP app.

A service builds one `ServiceRuntime` in its `create_app`, registers its consumers, loops and
routes, and returns `runtime.http_app(...)`. Nothing connects at import time; everything starts
in the app's lifespan and stops within `stop_seconds` of being asked to.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import signal
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any

from aiokafka import AIOKafkaProducer
from fastapi import APIRouter, FastAPI

from bookflow_contracts import Message, topics
from bookflow_runtime import asyncapi, faults, http, kafka, metrics
from bookflow_runtime import logging as bookflow_logging
from bookflow_runtime.consumer import Consumer, Delivery, group_id
from bookflow_runtime.database import Database, create_engine
from bookflow_runtime.loop import Wakeup, run_rounds
from bookflow_runtime.outbox import OutboxRelay
from bookflow_runtime.settings import ServiceSettings
from bookflow_runtime.subscription import Progress, Subscription

_log = logging.getLogger(__name__)

BackgroundLoop = Callable[[], Awaitable[None]]


class MissingSecrets(RuntimeError):
    """Outside development mode a service refuses to start without its secrets."""


class ServiceRuntime:
    """What one service process holds. Create it in the app factory, never at import time."""

    def __init__(self, settings: ServiceSettings, *, title: str, description: str, publishes: Sequence[type[Message]] = ()) -> None:
        bookflow_logging.configure(settings.service_name, settings.log_level)
        missing = settings.missing_secrets()
        if missing:
            raise MissingSecrets(
                f"{settings.service_name} will not start without real secrets: set {', '.join(missing)} "
                f"(or {ServiceSettings.env_name('development')}=1 for local development only)"
            )
        if settings.development:
            _log.warning("%s runs in development mode: public development secrets fill in for missing ones", settings.service_name)
        faults.arm(settings.faults)
        self.settings = settings
        self.title = title
        self.description = description
        self.publishes = tuple(publishes)
        self.engine = create_engine(settings.database_url)
        self.db = Database(self.engine)
        self.producer: AIOKafkaProducer | None = None
        self.relay: OutboxRelay | None = None
        self.broker = kafka.BrokerWatch(settings.kafka_bootstrap_servers, topics.ALL, partitions=settings.topic_partitions,
                                        replication=settings.topic_replication, sentinel=kafka.sentinel_topic(settings.service_name))
        self._consumers: list[Consumer] = []
        self._subscriptions: list[Subscription] = []
        self._loops: list[BackgroundLoop] = []
        self._tasks: list[asyncio.Task] = []
        self._consuming: list[asyncio.Task] = []
        self.started = False
        self.exit_if_stop_hangs = False  # set by `serve`: a served process never outlives a stuck stop
        self.stop_budget = settings.stop_seconds  # a worker process keeps some for its supervisor (cli)
        self.stop_asked_at: float | None = None  # time.monotonic() of the signal (or of `stop`)
        self._watchdog: threading.Timer | None = None

    # --- what a service registers ------------------------------------------------------------

    def consume(self, consumer: Consumer) -> None:
        """Subscribe `consumer`; offsets are committed only after its effect is stored."""
        self._consumers.append(consumer)

    def background(self, loop: BackgroundLoop) -> None:
        """Run `loop` for the life of the process, after the broker is up."""
        self._loops.append(loop)

    def http_app(self, routers: Sequence[APIRouter] = ()) -> FastAPI:
        """The service's HTTP app: its routes, operations routes, and this runtime's lifespan."""

        @contextlib.asynccontextmanager
        async def lifespan(_: FastAPI) -> AsyncIterator[None]:
            try:
                await self.start()
            except Exception as exc:
                _log.critical("%s cannot start: %s", self.settings.service_name, exc)
                await self.stop()
                raise
            yield
            await self.stop()

        return http.create_app(self, routers, lifespan)

    # --- life ----------------------------------------------------------------------------------

    async def start(self) -> None:
        """Wait for the broker (bounded), create topics, start relay, consumers and loops."""
        s = self.settings
        if self.exit_if_stop_hangs:
            self._count_the_stop_from_the_signal()
        await kafka.ensure_topics(s.kafka_bootstrap_servers, self.broker.names, partitions=s.topic_partitions,
                                  replication=s.topic_replication, wait_seconds=s.broker_wait_seconds)
        await self.db.ping()
        self.producer = kafka.new_producer(s.kafka_bootstrap_servers)
        await self.producer.start()
        self.relay = OutboxRelay(self.engine, self.producer, lock_name=s.service_name, poll_seconds=s.relay_poll_seconds)
        self._tasks.append(asyncio.create_task(self.relay.run(), name="outbox-relay"))
        for consumer in self._consumers:
            label = f"{s.service_name}.{consumer.name}"
            delivery = Delivery(consumer, self.db, self.producer, label=label, handler_attempts=s.handler_attempts)
            self._subscriptions.append(Subscription(
                delivery, bootstrap_servers=s.kafka_bootstrap_servers, group=group_id(s.service_name, consumer.name),
                batch_size=s.consumer_batch_size, session_timeout_ms=s.consumer_session_timeout_ms,
                fetch_wait_ms=(s.consumer_fetch_wait_ms, s.consumer_idle_fetch_wait_ms)))
        # Each group join waits about half the session timeout: join them all at once (a service
        # with eight consumers started in 25 s one after another, in 3 s together).
        await asyncio.gather(*(subscription.start() for subscription in self._subscriptions))
        for subscription in self._subscriptions:
            self._consuming.append(asyncio.create_task(subscription.run(), name=f"consumer-{subscription.delivery.consumer.name}"))
        self._tasks += [asyncio.create_task(loop(), name=getattr(loop, "__name__", "loop")) for loop in self._loops]
        self._tasks.append(asyncio.create_task(
            run_rounds("broker watch", self._watch_broker, Wakeup()), name="broker-watch"))
        self._tasks.append(asyncio.create_task(_measure_loop_lag(), name="loop-lag"))
        self.started = True
        _settle_garbage_collector(s.gc_threshold)
        _log.info("%s started", s.service_name)

    async def _watch_broker(self) -> float:
        await self.broker.look()
        return self.settings.broker_watch_seconds

    def _count_the_stop_from_the_signal(self) -> None:
        """The bound counts from the moment the process is asked to stop, not from when the HTTP
        server gets round to the app's shutdown: SIGTERM and SIGINT note the instant and arm the
        watchdog, then go on to the server's own handler (uvicorn's, installed before the app
        starts). Only the main thread may set signal handlers; elsewhere `stop` arms it."""
        if threading.current_thread() is not threading.main_thread():
            return
        for signum in (signal.SIGTERM, signal.SIGINT):
            previous = signal.getsignal(signum)

            def asked(number: int, frame: object, previous: object = previous) -> None:
                self._arm_watchdog()
                if callable(previous):
                    previous(number, frame)

            signal.signal(signum, asked)

    def _arm_watchdog(self) -> None:
        if self.stop_asked_at is None:
            self.stop_asked_at = time.monotonic()
        if self.exit_if_stop_hangs and self._watchdog is None:
            self._watchdog = _exit_after(self.stop_budget, self.settings.service_name)

    async def stop(self) -> None:
        """Stop within `stop_budget` (`stop_seconds`) of being asked: consumers stop fetching and
        finish the batch in hand (or abandon it uncommitted, for the next owner), then loops and
        relay stop, the producer flushes, connections close. Each step gets what is left of the budget; a
        watchdog ends the process if anything hangs beyond it."""
        self.started = False
        self._arm_watchdog()
        assert self.stop_asked_at is not None
        loop = asyncio.get_running_loop()
        # What is left of the budget in the loop's clock, keeping half a second for the exit itself.
        deadline = loop.time() + self.stop_budget - (time.monotonic() - self.stop_asked_at) - 0.5

        def left(share: float = 1.0, least: float = 0.2) -> float:
            return max(least, (deadline - loop.time()) * share)

        finished = await asyncio.gather(*(s.stop(grace_seconds=left(0.5)) for s in self._subscriptions))
        for done in finished:
            if not done:
                metrics.STOPS_ABANDONED.inc()
                _log.warning("a batch in hand was abandoned at stop; it is handled again by the next owner")
        for task in [*self._consuming, *self._tasks]:
            task.cancel()
        if self._consuming or self._tasks:
            await asyncio.wait([*self._consuming, *self._tasks], timeout=left(0.2))
        with contextlib.suppress(Exception):
            await asyncio.wait_for(asyncio.gather(*(s.close() for s in self._subscriptions), return_exceptions=True), left(0.6))
        if self.producer is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.producer.stop(), left(0.5))
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.engine.dispose(), left())
        _log.info("%s stopped in %.2f s", self.settings.service_name, time.monotonic() - self.stop_asked_at)
        # The watchdog stays armed: what follows (the server's exit, worker processes joining)
        # is part of the bound too.

    async def health(self) -> tuple[list[str], list[str]]:
        """(problems that make the service not ready, notes worth knowing)."""
        problems = [] if self.started else ["starting"]
        try:
            await self.db.ping()
        except Exception as exc:  # noqa: BLE001 (reported, not raised)
            problems.append(f"database: {type(exc).__name__}")
        if self.broker.problem:
            problems.append(self.broker.problem)
        notes = []
        if self.broker.last_loss:
            notes.append(f"the broker lost its topics at {self.broker.last_loss.isoformat()}; they were re-created")
        # Not a problem: the HTTP routes serve meanwhile, and what is published is read once joined.
        notes += [f"consumer {s.delivery.consumer.name} is joining its group (no partitions yet)"
                  for s in self._subscriptions if not s.assigned()]
        return problems, notes

    def caught_up_at(self, consumer: str) -> datetime | None:
        """When the named consumer last had everything its topic held (see Subscription)."""
        for subscription in self._subscriptions:
            if subscription.delivery.consumer.name == consumer:
                return subscription.caught_up_at
        raise KeyError(consumer)

    def consumer_progress(self, consumer: str) -> Progress:
        """`caught_up_at` of the named consumer with the partitions it holds for (see Progress)."""
        for subscription in self._subscriptions:
            if subscription.delivery.consumer.name == consumer:
                return subscription.progress()
        raise KeyError(consumer)

    def asyncapi(self) -> dict[str, Any]:
        consumed = [m for c in self._consumers for m in c.message_types]
        return asyncapi.document(service=self.settings.service_name, title=self.title, description=self.description,
                                 bootstrap_servers=self.settings.kafka_bootstrap_servers, consumes=consumed, publishes=self.publishes)


def _exit_after(seconds: float, service: str) -> threading.Timer:
    """The last resort of a bounded stop: end the process if it is still here after `seconds`."""

    def end() -> None:
        logging.getLogger(__name__).error("%s did not stop within %.0f s: exiting", service, seconds)
        logging.shutdown()
        os._exit(1)

    timer = threading.Timer(seconds, end)
    timer.daemon = True
    timer.start()
    return timer


def _settle_garbage_collector(threshold: int) -> None:
    """Measured on the notification service: with CPython's defaults a third of its CPU went to
    the garbage collector walking the same long-lived objects (modules, models, metadata) again
    and again. Those are frozen out of collection once started, and the young generation is
    collected every `threshold` allocations instead of every 700 (each message allocates
    hundreds of short-lived objects; reference counting frees nearly all of them anyway)."""
    gc.collect()
    gc.freeze()
    if threshold:
        gc.set_threshold(threshold, 20, 100)


async def _measure_loop_lag(every: float = 0.1) -> None:
    """`bookflow_event_loop_lag_seconds`: how much later than asked the loop wakes a sleeper.
    A request's latency is its own work plus such waits, one per await, behind whatever else
    the process does in one stretch (a consumed batch, say)."""
    loop = asyncio.get_running_loop()
    while True:
        asked = loop.time()
        await asyncio.sleep(every)
        metrics.EVENT_LOOP_LAG.observe(max(0.0, loop.time() - asked - every))
