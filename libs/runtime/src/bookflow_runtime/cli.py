"""A service's command line: `python -m bookflow_<name> [serve|migrate]`, and its worker processes."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import uvicorn
from fastapi import FastAPI
from uvicorn.importer import import_from_string

from bookflow_runtime.migrations import upgrade
from bookflow_runtime.runtime import MissingSecrets
from bookflow_runtime.settings import ServiceSettings


def main(
    create_app: Callable[[ServiceSettings], FastAPI],
    settings_class: type[ServiceSettings],
    migrations_dir: Path,
    argv: Sequence[str] | None = None,
) -> None:
    """`migrate` brings the service's database to head; no argument (or `serve`) serves.

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
    # Requests under way get a third of the stop budget to finish; the app's own stop (consumers,
    # loops, producer) has the rest, counted from the signal (ServiceRuntime.stop).
    options = {"host": settings.http_host, "port": settings.http_port, "log_config": None, "access_log": False,
               "timeout_graceful_shutdown": max(1, int(settings.stop_seconds / 3))}
    try:
        if settings.workers == 1:
            uvicorn.run(_served(create_app(settings)), **options)
            return
        if settings.missing_secrets():  # say it once, here, rather than in every worker
            raise MissingSecrets(f"set {', '.join(settings.missing_secrets())}")
    except MissingSecrets as exc:
        sys.exit(f"bookflow_{settings.service_name}: {exc}")
    os.environ[_WORKER_APP] = f"{create_app.__module__}:{create_app.__qualname__}"
    os.environ[_WORKER_SETTINGS] = f"{settings_class.__module__}:{settings_class.__qualname__}"
    uvicorn.run(f"{__name__}:worker_app", factory=True, workers=settings.workers, **options)
    # The workers have stopped and been joined: nothing is left to do. Tearing down an
    # interpreter that imported the whole service took the supervisor 2–4 s more (measured
    # under load), time the stop bound does not have, so it ends here.
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


_WORKER_APP, _WORKER_SETTINGS = "BOOKFLOW_WORKER_APP", "BOOKFLOW_WORKER_SETTINGS"


def _served(app: FastAPI, *, margin: float = 0.0) -> FastAPI:
    """A served process never outlives a stuck stop. A worker keeps `margin` of the bound for its
    supervisor, which hears the signal first (it looks every 0.5 s) and exits after its workers."""
    runtime = app.state.runtime
    runtime.exit_if_stop_hangs = True
    runtime.stop_budget = max(1.0, runtime.settings.stop_seconds - margin)
    return app


def worker_app() -> FastAPI:
    """The app of one worker process: the service's factory with settings from the environment."""
    create_app, settings_class = (import_from_string(os.environ[name]) for name in (_WORKER_APP, _WORKER_SETTINGS))
    return _served(create_app(settings_class()), margin=1.0)
