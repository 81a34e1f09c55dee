"""The HTTP shell every service shares: one transaction per request from one dependency, errors as
Problem Details (RFC 9457) documented on every route, a correlation id on every request, and the
operations routes (health, metrics, AsyncAPI).

A route is one handler call (and one read query for reads); its session comes from `Session`,
which commits when the route returns, before the response is sent, and rolls back when it raises.
Routes and their dependencies are `async def`, even those that await nothing: FastAPI runs a
plain `def` in a worker thread, a hop out of the event loop and back that a request waits for
behind everything else on the loop (tests/contract/test_http_edge.py holds every service to it).
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator, Callable, Sequence
from typing import TYPE_CHECKING, Annotated, Any, Literal

import asyncpg.exceptions
import sqlalchemy.exc
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bookflow_runtime import context
from bookflow_runtime.errors import BookflowError, TooManyRequests
from bookflow_runtime.outages import caused_by, is_outage

if TYPE_CHECKING:
    from bookflow_runtime.runtime import ServiceRuntime

_log = logging.getLogger(__name__)
PROBLEM_TYPE = "application/problem+json"


# --- the transaction of a request ------------------------------------------------------------


async def _transaction(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.app.state.runtime.db.transaction() as session:
        yield session


Session = Annotated[AsyncSession, Depends(_transaction, scope="function")]
"""The request's session: committed when the route returns (before the response is sent),
rolled back when it raises."""


# --- Problem Details -------------------------------------------------------------------------


class FieldProblem(BaseModel):
    field: str = Field(description="Where in the request: `body.customer.phone`, `query.day`.")
    message: str = Field(description="What is wrong with it.")


class Problem(BaseModel):
    """An error, as RFC 9457 Problem Details."""

    type: str = Field(description="A URI naming the kind of problem: `urn:bookflow:problem:<code>`.")
    title: str = Field(description="What went wrong, in a few words.")
    status: int = Field(description="The HTTP status.")
    detail: str = Field(description="What exactly, and what to do about it.")
    code: str = Field(description="The kind of problem as a short code, such as `slot-taken`.")
    errors: list[FieldProblem] | None = Field(None, description="For invalid requests: each field and what is wrong with it.")


_STATUS_PROBLEMS = {
    400: ("bad-request", "The request cannot be read"),
    401: ("unauthorized", "Log in first"),
    403: ("forbidden", "Not allowed"),
    404: ("not-found", "Not found"),
    405: ("method-not-allowed", "Method not allowed"),
    409: ("conflict", "Not possible in the current state"),
    413: ("too-large", "The request is too large"),
    422: ("invalid-request", "The request has values that cannot be used"),
    429: ("too-many-requests", "Too many attempts"),
    500: ("internal-error", "Something went wrong on our side"),
    503: ("service-unavailable", "Temporarily unavailable"),
}

PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": Problem, "description": title, "content": {PROBLEM_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}}}
    for status, (_, title) in _STATUS_PROBLEMS.items()
}
"""Documented on every route: every error a route can answer is one of these, as a Problem."""


def problem(status: int, code: str, title: str, detail: str, *, headers: dict[str, str] | None = None, **extra: Any) -> JSONResponse:
    body = {"type": f"urn:bookflow:problem:{code}", "title": title, "status": status, "detail": detail, "code": code, **extra}
    return JSONResponse(body, status_code=status, media_type=PROBLEM_TYPE, headers=headers)


async def _bookflow_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, BookflowError)
    headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, TooManyRequests) else None
    return problem(exc.status, exc.code, exc.title, exc.detail, headers=headers, **getattr(exc, "extensions", {}))


async def _invalid_request(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [{"field": ".".join(str(p) for p in e.get("loc", ())), "message": e.get("msg", "invalid")} for e in exc.errors()]
    summary = "; ".join(f"{e['field']}: {e['message']}" for e in errors[:5])
    return problem(422, "invalid-request", _STATUS_PROBLEMS[422][1], summary or "the request is not valid", errors=errors)


async def _http_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code, title = _STATUS_PROBLEMS.get(exc.status_code, ("error", "The request cannot be handled"))
    detail = exc.detail if isinstance(exc.detail, str) else title
    return problem(exc.status_code, code, title, detail, headers=getattr(exc, "headers", None))


_UNSTORABLE = (
    sqlalchemy.exc.DataError, asyncpg.exceptions.CharacterNotInRepertoireError, asyncpg.exceptions.UntranslatableCharacterError,
    UnicodeEncodeError,
)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    """The safety net: a database outage is 503 with Retry-After (the client may retry); a value
    the database cannot store is 422; anything else is 500, logged, without internals."""
    if is_outage(exc):
        _log.warning("%s %s: the database is unavailable: %s", request.method, request.url.path, type(exc).__name__)
        return problem(503, "database-unavailable", "Temporarily unavailable",
                       "the service cannot reach its database; try again in a few seconds", headers={"Retry-After": "5"})
    if caused_by(exc, _UNSTORABLE):
        return problem(422, "invalid-request", _STATUS_PROBLEMS[422][1], "the request holds characters or values that cannot be stored")
    _log.exception("%s %s failed", request.method, request.url.path)
    conv = context.current()
    return problem(500, "internal-error", _STATUS_PROBLEMS[500][1],
                   f"the error is logged under correlation id {conv.correlation_id if conv else 'unknown'}; try again later")


# --- correlation -----------------------------------------------------------------------------

_SAFE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,100}$")


class _Correlation:
    """Every request is a conversation: the caller's `X-Correlation-Id` (if it is a sane id), or a
    new one, named again on the response. An unexpected error is answered here, inside the
    conversation, so that the 500 names the correlation id it was logged under (Starlette's
    last-resort handler runs outside it, and re-raises, which logs every traceback twice).

    Plain ASGI rather than `@app.middleware("http")`: Starlette's `BaseHTTPMiddleware` runs the
    route in a task of its own behind memory streams, a cost on every request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = Headers(scope=scope).get("x-correlation-id")
        with context.conversation(given if given and _SAFE_ID.match(given) else None) as conv:
            started = False

            async def send_naming_it(message: Message) -> None:
                nonlocal started
                if message["type"] == "http.response.start":
                    started = True
                    MutableHeaders(scope=message).append("X-Correlation-Id", conv.correlation_id)
                await send(message)

            try:
                await self.app(scope, receive, send_naming_it)
            except Exception as exc:
                if started:  # too late for another answer: the server closes the connection
                    raise
                await (await _unexpected(Request(scope), exc))(scope, receive, send_naming_it)


# --- the app ---------------------------------------------------------------------------------


def create_app(runtime: "ServiceRuntime", routers: Sequence[APIRouter], lifespan: Callable) -> FastAPI:
    """The service's HTTP app: its routes plus health, metrics and AsyncAPI, errors as Problems."""
    app = FastAPI(title=runtime.title, description=runtime.description, lifespan=lifespan, responses=PROBLEM_RESPONSES)
    app.state.runtime = runtime
    app.state.settings = runtime.settings
    app.add_exception_handler(BookflowError, _bookflow_error)
    app.add_exception_handler(RequestValidationError, _invalid_request)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
    app.add_middleware(_Correlation)
    app.include_router(_operations_router(runtime))
    for router in routers:
        app.include_router(router)
    return app


class Liveness(BaseModel):
    status: Literal["ok"]
    service: str = Field(description="The service's short name.")


class Readiness(BaseModel):
    status: Literal["ok", "unavailable"]
    problems: list[str] = Field(description="Why the service is not ready; empty when it is.")
    notes: list[str] = Field(description="Worth knowing though the service is ready, such as a broker that lost its topics.")


def _operations_router(runtime: "ServiceRuntime") -> APIRouter:
    router = APIRouter(tags=["operations"])

    @router.get("/health/live", summary="The process is up")
    async def live() -> Liveness:
        return Liveness(status="ok", service=runtime.settings.service_name)

    @router.get("/health/ready", summary="Database and broker answer, consumers run, topics are there",
                responses={503: {"model": Readiness, "description": "Not ready: `problems` say why",
                                 "headers": {"Retry-After": {"schema": {"type": "integer"}, "description": "Seconds to wait."}}}})
    async def ready() -> Readiness:
        problems, notes = await runtime.health()
        status = 200 if not problems else 503
        body = Readiness(status="ok" if status == 200 else "unavailable", problems=problems, notes=notes)
        return JSONResponse(body.model_dump(), status, headers=None if status == 200 else {"Retry-After": "5"})  # type: ignore[return-value]

    @router.get("/metrics", summary="Prometheus metrics", response_class=PlainTextResponse,
                responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}, "description": "The text exposition format."}})
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    @router.get("/asyncapi.json", summary="AsyncAPI 3 document of the topics this service publishes and consumes")
    async def asyncapi() -> JSONResponse:
        return JSONResponse(runtime.asyncapi())

    return router


def runtime_of(request: Request) -> "ServiceRuntime":
    """FastAPI dependency: the runtime of the app serving the request."""
    return request.app.state.runtime
