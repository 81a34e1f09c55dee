"""A service's command line: `python -m bookflow_<name> [serve|migrate]`, and its worker processes."""

from __future__ import annotations

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
    options = {"host": settings.http_host, "port": settings.http_port, "log_config": None, "access_log": False,
               "timeout_graceful_shutdown": max(1, int(settings.stop_seconds / 2))}
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


_WORKER_APP, _WORKER_SETTINGS = "BOOKFLOW_WORKER_APP", "BOOKFLOW_WORKER_SETTINGS"


def _served(app: FastAPI) -> FastAPI:
    app.state.runtime.exit_if_stop_hangs = True
    return app


def worker_app() -> FastAPI:
    """The app of one worker process: the service's factory with settings from the environment."""
    create_app, settings_class = (import_from_string(os.environ[name]) for name in (_WORKER_APP, _WORKER_SETTINGS))
    return _served(create_app(settings_class()))
