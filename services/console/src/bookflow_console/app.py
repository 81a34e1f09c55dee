"""Composition root of the console: settings, one HTTP client for the services, the pages, the
static files, and how failures are shown (a session that ended goes to the login page and back;
a service's refusal in words; never a stack trace)."""
from __future__ import annotations

import logging
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from bookflow_console import pages, texts
from bookflow_console.client import ServiceProblem
from bookflow_console.session import CSRF, CsrfRefused, LoginNeeded, RoleNeeded, TenantCache, csrf_of, forget_session, login_url
from bookflow_console.settings import ConsoleSettings
from bookflow_console.web import redirect, render, t
from bookflow_runtime.logging import configure as configure_logging

_log = logging.getLogger("bookflow_console")


def create_app(settings: ConsoleSettings) -> FastAPI:
    configure_logging("console", settings.log_level)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per call to a service is noise

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        async with httpx.AsyncClient(follow_redirects=False) as http:
            app.state.http = http
            yield

    app = FastAPI(title="bookflow console", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.settings = settings
    app.state.tenants = TenantCache()
    app.mount("/static", StaticFiles(directory=Path(__file__).parent / "static"), name="static")
    for router in pages.routers:
        app.include_router(router)

    @app.get("/health/live", include_in_schema=False)
    async def live() -> dict:
        return {"status": "ok", "service": "console"}

    @app.get("/health/ready", include_in_schema=False)
    async def ready() -> dict:
        return {"status": "ok", "service": "console"}

    @app.middleware("http")
    async def cookies_and_headers(request: Request, call_next) -> Response:
        response = await call_next(request)
        secure = settings.secure_cookies
        if CSRF not in request.cookies:
            response.set_cookie(CSRF, csrf_of(request), httponly=True, samesite="strict", secure=secure, path="/")
        for name, (value, max_age) in getattr(request.state, "cookies", {}).items():
            if max_age == 0:
                response.delete_cookie(name, path="/", httponly=True, samesite="strict", secure=secure)
            else:
                response.set_cookie(name, value, max_age=max_age, httponly=True, samesite="strict", secure=secure, path="/")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("Content-Security-Policy",
                                    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'")
        return response

    @app.exception_handler(LoginNeeded)
    async def login_needed(request: Request, exc: LoginNeeded) -> Response:
        back = exc.next_path if request.method == "GET" else (_referred_path(request) or exc.next_path)
        return redirect(login_url(back))

    @app.exception_handler(CsrfRefused)
    async def csrf_refused(request: Request, exc: CsrfRefused) -> Response:
        return render(request, "error.html", status=400, title=t(_lang(request), "The form had expired"),
                      message=t(_lang(request), "The page was open too long or came from elsewhere. Go back, reload the page and try again."))

    @app.exception_handler(RoleNeeded)
    async def role_needed(request: Request, exc: RoleNeeded) -> Response:
        return render(request, "error.html", status=403, title=t(_lang(request), "Not for your role"),
                      message=t(_lang(request), "Your role does not allow this. Ask an administrator if you need it."))

    @app.exception_handler(ServiceProblem)
    async def service_problem(request: Request, exc: ServiceProblem) -> Response:
        if exc.status == 401:
            forget_session(request)
            response = redirect(login_url(request.url.path if request.method == "GET" else (_referred_path(request) or "/")))
            return response
        lang = _lang(request)
        if exc.status >= 500:
            _log.warning("%s %s: %s answered %s %s", request.method, request.url.path, exc.service, exc.status, exc.code)
        title = {404: t(lang, "Not found"), 403: t(lang, "Not for your role")}.get(exc.status, t(lang, "That did not work"))
        return render(request, "error.html", status=exc.status if exc.status in (403, 404, 409, 422) else 502, title=title,
                      message=texts.problem_words(lang, exc), fields=texts.field_problems(lang, exc))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if request.url.path.startswith("/static/"):
            return JSONResponse({"detail": "not found"}, status_code=exc.status_code)
        lang = _lang(request)
        if exc.status_code == 404:
            return render(request, "error.html", status=404, title=t(lang, "Not found"),
                          message=t(lang, "We could not find that. It may have been removed, or the address is wrong."))
        return render(request, "error.html", status=exc.status_code, title=t(lang, "That did not work"),
                      message=t(lang, "The request could not be done."))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> Response:
        _log.exception("%s %s failed", request.method, request.url.path)
        lang = _lang(request)
        return render(request, "error.html", status=500, title=t(lang, "That did not work"),
                      message=t(lang, "Something went wrong in the console. It has been logged; try again, and if it goes on, tell your IT contact."))

    return app


def _lang(request: Request) -> str:
    from bookflow_console.session import language_of

    return language_of(request)


def _referred_path(request: Request) -> str | None:
    """The page a form was sent from (on this console), to come back to after logging in."""
    referer = request.headers.get("referer") or ""
    base = str(request.base_url)
    return "/" + referer[len(base):] if referer.startswith(base) else None
