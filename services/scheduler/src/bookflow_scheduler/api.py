"""The scheduler's HTTP API: look timers up and count them (operations, not customers)."""
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from bookflow_runtime.errors import BookflowError
from bookflow_runtime.http import runtime_of
from bookflow_runtime.runtime import ServiceRuntime
from bookflow_scheduler import storage

router = APIRouter(tags=["timers"])
Runtime = Annotated[ServiceRuntime, Depends(runtime_of)]


@router.get("/timers", summary="Timers by exact key or key prefix")
async def find_timers(
    runtime: Runtime,
    key: str | None = None,
    prefix: str | None = None,
    tenant_id: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[dict]:
    if not key and not prefix:
        raise BookflowError("give `key` or `prefix`")
    async with runtime.db.transaction() as session:
        return await storage.find(session, tenant_id, key=key, prefix=prefix, limit=limit)


@router.get("/timers/counts", summary="How many timers each tenant has in each state")
async def count_timers(runtime: Runtime) -> list[dict]:
    async with runtime.db.transaction() as session:
        return await storage.count_by_state(session)
