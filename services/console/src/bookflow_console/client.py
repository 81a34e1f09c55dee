"""The services' public HTTP APIs as the console calls them: with the logged-in person's token,
answers as JSON, and every error as a `ServiceProblem` (the service's Problem Details: `status`,
`code`, `detail`, `errors`), which `texts.problem_words` turns into words for a person."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx

from bookflow_console.settings import ConsoleSettings


@dataclass
class ServiceProblem(Exception):
    """A service refused or failed a request (or did not answer: status 503, code `unreachable`)."""

    service: str
    status: int
    code: str
    detail: str = ""
    errors: list[dict[str, Any]] = field(default_factory=list)
    retry_after: int | None = None

    def __str__(self) -> str:
        return f"{self.service}: {self.status} {self.code}: {self.detail}"


def _problem(service: str, response: httpx.Response) -> ServiceProblem:
    try:
        body = response.json()
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    code = body.get("code") or {401: "unauthorized", 403: "forbidden", 404: "not-found"}.get(response.status_code, "error")
    errors = body.get("errors") or []
    if code == "template-invalid":  # the notification service's template check names the field, the line and the reason
        errors = [{"field": body.get("field", "body"), "message": body.get("reason") or body.get("detail", ""), "line": body.get("line")}]
    retry = response.headers.get("retry-after")
    return ServiceProblem(service, response.status_code, str(code), str(body.get("detail") or ""), list(errors),
                          int(retry) if retry and retry.isdigit() else None)


class Api:
    """One person's calls to the services (their token on every request)."""

    def __init__(self, http: httpx.AsyncClient, settings: ConsoleSettings, token: str | None, *,
                 client_address: str | None = None, correlation_id: str | None = None) -> None:
        self._http, self._settings, self._token = http, settings, token
        self._headers = {"X-Forwarded-For": client_address} if client_address else {}
        if correlation_id:
            self._headers["X-Correlation-Id"] = correlation_id

    async def call(self, service: str, method: str, path: str, *, json: Any = None, params: dict[str, Any] | None = None,
                   raw: bool = False) -> Any:
        headers = dict(self._headers)
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        clean = {k: v for k, v in (params or {}).items() if v not in (None, "", [])}
        try:
            response = await self._http.request(method, f"{self._settings.url_of(service)}{path}", json=json, params=clean,
                                                headers=headers, timeout=self._settings.request_timeout_seconds)
        except httpx.HTTPError as exc:
            raise ServiceProblem(service, 503, "unreachable", type(exc).__name__) from exc
        if response.status_code >= 400:
            raise _problem(service, response)
        if raw:
            return response
        return response.json() if response.content else None

    async def get(self, service: str, path: str, **params: Any) -> Any:
        return await self.call(service, "GET", path, params=params)

    async def post(self, service: str, path: str, json: Any = None) -> Any:
        return await self.call(service, "POST", path, json=json if json is not None else {})

    async def put(self, service: str, path: str, json: Any) -> Any:
        return await self.call(service, "PUT", path, json=json)

    async def patch(self, service: str, path: str, json: Any) -> Any:
        return await self.call(service, "PATCH", path, json=json)

    async def delete(self, service: str, path: str) -> Any:
        return await self.call(service, "DELETE", path)
