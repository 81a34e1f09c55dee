"""The composition every service process shares: database, broker, outbox relay, consumers,
background loops, and an HTTP app with health, metrics, OpenAPI and AsyncAPI.

A service builds one `ServiceRuntime`, registers its consumers and routes, and hands the app to
`serve`. Nothing connects at import time; everything starts in the app's lifespan.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import logging
import sys
from pathlib import Path
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence

import uvicorn
from uvicorn.importer import import_from_string
from aiokafka import AIOKafkaProducer
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from faststream.middlewares import AckPolicy
from faststream.specification import AsyncAPI
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from bookflow_contracts import topics
from bookflow_runtime import context, faults, kafka
from bookflow_runtime import logging as bookflow_logging
from bookflow_runtime.consumer import Consumer, Delivery, group_id
from bookflow_runtime.database import Database, create_engine
from bookflow_runtime.auth import DEV_SECRET
from bookflow_runtime.errors import BookflowError
from bookflow_runtime.migrations import upgrade
from bookflow_runtime.outbox import OutboxRelay
from bookflow_runtime.settings import ServiceSettings

_log = logging.getLogger(__name__)

BackgroundLoop = Callable[[], Awaitable[None]]


class ServiceRuntime:
    """What one service process holds. Create it in the app factory, never at import time."""

    def __init__(self, settings: ServiceSettings, *, title: str, description: str) -> None:
        bookflow_logging.configure(settings.service_name, settings.log_level)
        faults.arm(settings.faults)
        self.settings = settings
        self.title = title
        self.description = description
        self.engine = create_engine(settings.database_url)
        self.db = Database(self.engine)
        self.db.on_commit(self._wake_relay)
        self.broker = KafkaBroker(
            settings.kafka_bootstrap_servers,
            logger=logging.getLogger("faststream"),
            log_level=logging.DEBUG,  # two lines per message at INFO cost a third of throughput
            graceful_timeout=10,
        )
        bookflow_logging.configure(settings.service_name, settings.log_level)  # adopt FastStream's loggers
        self.producer: AIOKafkaProducer | None = None
        self.relay: OutboxRelay | None = None
        self._loops: list[BackgroundLoop] = []
        self._tasks: list[asyncio.Task] = []
        self.started = False
        if DEV_SECRET in (settings.staff_token_secret, settings.link_secret):
            _log.warning("using the development secret for tokens and links: set BOOKFLOW_STAFF_TOKEN_SECRET and BOOKFLOW_LINK_SECRET")

    def consume(self, consumer: Consumer) -> None:
        """Subscribe `consumer`; offsets are committed only after its effect is stored."""
        delivery = Delivery(self, consumer)
        subscriber = self.broker.subscriber(
            consumer.topic,
            group_id=group_id(self.settings.service_name, consumer.name),
            ack_policy=AckPolicy.MANUAL,
            batch=True,
            max_records=self.settings.consumer_batch_size,
            batch_timeout_ms=50,
            auto_offset_reset="earliest",
            session_timeout_ms=self.settings.consumer_session_timeout_ms,
            heartbeat_interval_ms=max(1000, self.settings.consumer_session_timeout_ms // 3),
            decoder=_records_undecoded,
            title=f"{self.settings.service_name}.{consumer.name}",
            description=", ".join(m.message_type for m in consumer.message_types) + " → " + consumer.name,
        )

        async def consume_records(msg: KafkaMessage) -> None:
            await delivery(msg)

        subscriber(consume_records)

    def background(self, loop: BackgroundLoop) -> None:
        """Run `loop` for the life of the process, after the broker is up."""
        self._loops.append(loop)

    def _wake_relay(self, _: dict) -> None:
        if self.relay is not None:
            self.relay.wake()

    async def start(self) -> None:
        """Wait for the broker (bounded), create topics, start relay, consumers and loops."""
        s = self.settings
        await kafka.ensure_topics(
            s.kafka_bootstrap_servers, topics.ALL, partitions=s.topic_partitions,
            replication=s.topic_replication, wait_seconds=s.broker_wait_seconds,
        )
        await self.db.ping()
        self.producer = kafka.new_producer(s.kafka_bootstrap_servers)
        await self.producer.start()
        self.relay = OutboxRelay(self.engine, self.producer, lock_name=s.service_name, poll_seconds=s.relay_poll_seconds)
        self._tasks.append(asyncio.create_task(self.relay.run(), name="outbox-relay"))
        await self.broker.start()
        self._tasks += [asyncio.create_task(loop(), name=getattr(loop, "__name__", "loop")) for loop in self._loops]
        self.started = True
        _settle_garbage_collector(s.gc_threshold)
        _log.info("%s started", s.service_name)

    async def stop(self) -> None:
        """Stop consumers first, so nothing is handled without a relay to publish it."""
        self.started = False
        with contextlib.suppress(Exception):
            await self.broker.stop()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.producer is not None:
            with contextlib.suppress(Exception):
                await self.producer.stop()
        await self.engine.dispose()

    def http_app(self, routers: Sequence[APIRouter] = ()) -> FastAPI:
        """The service's HTTP app: its routes plus health, metrics and AsyncAPI."""

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

        app = FastAPI(title=self.title, description=self.description, lifespan=lifespan)
        app.state.runtime = self
        app.add_exception_handler(BookflowError, _render_error)
        app.middleware("http")(_correlate)
        app.include_router(self._operations_router())
        for router in routers:
            app.include_router(router)
        return app

    def _operations_router(self) -> APIRouter:
        router = APIRouter(tags=["operations"])

        @router.get("/health/live", summary="The process is up")
        async def live() -> dict:
            return {"status": "ok", "service": self.settings.service_name}

        @router.get("/health/ready", summary="Database and broker answer")
        async def ready() -> JSONResponse:
            problems = [] if self.started else ["starting"]
            try:
                await self.db.ping()
            except Exception as exc:  # noqa: BLE001 (reported, not raised)
                problems.append(f"database: {exc!r}")
            status = 200 if not problems else 503
            return JSONResponse({"status": "ok" if status == 200 else "unavailable", "problems": problems}, status)

        @router.get("/metrics", summary="Prometheus metrics")
        async def metrics() -> Response:
            return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

        @router.get("/asyncapi.json", summary="AsyncAPI document of the topics this service uses")
        async def asyncapi() -> Response:
            spec = AsyncAPI(self.broker, title=self.title, description=self.description)
            return Response(spec.to_specification().to_json(), media_type="application/json")

        return router


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


async def _records_undecoded(_: object) -> None:
    """FastStream's decoder for our subscribers: none. `Delivery` reads the records' bytes itself;
    FastStream's own decoder would parse every record's JSON once more for nothing."""
    return None


async def _render_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, BookflowError)
    return JSONResponse({"error": exc.code, "detail": exc.detail}, status_code=exc.status)


async def _correlate(request: Request, call_next: Callable) -> Response:
    """Every request is a conversation: the caller's `X-Correlation-Id`, or a new one."""
    with context.conversation(request.headers.get("x-correlation-id")) as conv:
        response = await call_next(request)
    response.headers["X-Correlation-Id"] = conv.correlation_id
    return response


def runtime_of(request: Request) -> ServiceRuntime:
    """FastAPI dependency: the runtime of the app serving the request."""
    return request.app.state.runtime


def main(
    create_app: Callable[[ServiceSettings], FastAPI],
    settings_class: type[ServiceSettings],
    migrations_dir: Path,
    argv: Sequence[str] | None = None,
) -> None:
    """A service's command line: `migrate` brings its database to head; no argument serves.

    With `workers` above 1 the service runs as that many processes on one port (uvicorn's
    workers), each a full replica: Kafka shares the partitions among their consumers, the
    dispatching loops claim rows with SKIP LOCKED, one relay at a time holds the outbox lock.
    That is how one service uses more than one core."""
    args = list(sys.argv[1:] if argv is None else argv)
    settings = settings_class()
    if args == ["migrate"]:
        upgrade(migrations_dir, settings.database_url)
        return
    if args not in ([], ["serve"]):
        sys.exit(f"usage: python -m bookflow_{settings.service_name} [serve|migrate]")
    options = {"host": settings.http_host, "port": settings.http_port, "log_config": None, "access_log": False}
    if settings.workers == 1:
        uvicorn.run(create_app(settings), **options)
        return
    os.environ[_WORKER_APP] = f"{create_app.__module__}:{create_app.__qualname__}"
    os.environ[_WORKER_SETTINGS] = f"{settings_class.__module__}:{settings_class.__qualname__}"
    uvicorn.run(f"{__name__}:worker_app", factory=True, workers=settings.workers, **options)


_WORKER_APP, _WORKER_SETTINGS = "BOOKFLOW_WORKER_APP", "BOOKFLOW_WORKER_SETTINGS"


def worker_app() -> FastAPI:
    """The app of one worker process: the service's factory with settings from the environment."""
    create_app, settings_class = (import_from_string(os.environ[name]) for name in (_WORKER_APP, _WORKER_SETTINGS))
    return create_app(settings_class())
