"""Every route of every service, and every dependency it takes, runs on the event loop.

FastAPI runs a plain `def` route or dependency in a worker thread: a hop out of the event loop
and back for each, which a request waits for behind whatever else the loop is doing. Under the
rush's load that waiting, not the work, made the latency (issue 17); a dependency that does not
block (reading a token, the app's settings) is `async def` and costs nothing of the kind."""
from __future__ import annotations

import importlib
import inspect

import pytest
from fastapi.routing import APIRoute, iter_route_contexts

APPS = ("booking", "notification", "scheduler", "recall", "checkin", "console")


def _app(name: str):
    app_module = importlib.import_module(f"bookflow_{name}.app")
    settings_module = importlib.import_module(f"bookflow_{name}.settings")
    settings_class = next(v for k, v in vars(settings_module).items()
                          if k.endswith("Settings") and getattr(v, "__module__", "") == settings_module.__name__)
    fields = settings_class.model_fields
    return app_module.create_app(settings_class(**({"database_url": "postgresql+asyncpg://unused@127.0.0.1:1/unused"}
                                                   if "database_url" in fields else {})))


def _on_the_loop(call) -> bool:
    return any(inspect.iscoroutinefunction(c) or inspect.isasyncgenfunction(c) for c in (call, getattr(call, "__call__", None)))


def _threaded(dependant) -> list[str]:
    """The plain callables among a route's endpoint and dependencies, by qualified name."""
    found = [] if dependant.call is None or _on_the_loop(dependant.call) else [
        f"{dependant.call.__module__}.{getattr(dependant.call, '__qualname__', dependant.call)}"]
    for sub in dependant.dependencies:
        found += _threaded(sub)
    return found


@pytest.mark.parametrize("name", APPS)
def test_no_route_or_dependency_runs_in_a_worker_thread(name: str) -> None:
    app = _app(name)
    routes = [(c.original_route, c.path) for c in iter_route_contexts(app.routes) if isinstance(c.original_route, APIRoute)]
    assert len(routes) > 3, "the app's routes are found"
    threaded: dict[str, str] = {}  # the plain `def`, and one route that takes it
    for route, path in routes:
        for call in _threaded(route.dependant):
            threaded.setdefault(call, f"{','.join(sorted(route.methods))} {path}")
    assert not threaded, "plain `def` routes or dependencies (make them `async def`):\n" + "\n".join(
        f"{call} (in {route} and maybe more)" for call, route in threaded.items())
