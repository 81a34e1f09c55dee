"""The HTTP shell's last resort: what a caller gets when a route fails in a way nobody planned."""
import contextlib
from types import SimpleNamespace

import asyncpg.exceptions
import httpx
import sqlalchemy.exc
from fastapi import APIRouter

from bookflow_runtime import http


def app_with(route) -> httpx.AsyncClient:  # noqa: ANN001
    runtime = SimpleNamespace(title="t", description="d", settings=SimpleNamespace(service_name="test"))

    @contextlib.asynccontextmanager
    async def lifespan(_):  # noqa: ANN001, ANN202
        yield

    router = APIRouter()
    router.get("/fail")(route)
    app = http.create_app(runtime, [router], lifespan)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app, raise_app_exceptions=False), base_url="http://test")


def driver_error(cause: Exception) -> sqlalchemy.exc.DBAPIError:
    """What SQLAlchemy's asyncpg dialect raises: DBAPIError → its adapted error → asyncpg's."""
    adapted = RuntimeError("adapted")
    adapted.__cause__ = cause
    return sqlalchemy.exc.DBAPIError("INSERT …", None, adapted)


async def test_a_value_the_database_cannot_store_is_refused_with_422_not_500():
    async def fail():
        raise driver_error(asyncpg.exceptions.CharacterNotInRepertoireError('invalid byte sequence for encoding "UTF8": 0x00'))

    async with app_with(fail) as client:
        answer = await client.get("/fail")
    assert answer.status_code == 422
    assert answer.headers["content-type"] == http.PROBLEM_TYPE and answer.json()["code"] == "invalid-request"


async def test_an_unexpected_error_is_a_500_naming_the_correlation_id_it_was_logged_under():
    async def fail():
        raise KeyError("a bug")

    async with app_with(fail) as client:
        answer = await client.get("/fail", headers={"X-Correlation-Id": "visit-42"})
    assert answer.status_code == 500 and answer.headers["x-correlation-id"] == "visit-42"
    assert "visit-42" in answer.json()["detail"] and "a bug" not in answer.text
