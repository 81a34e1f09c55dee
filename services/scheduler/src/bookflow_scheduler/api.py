"""The scheduler's HTTP API: operators look timers up and count them. Every tenant's timers are
here, so only the operator token opens these routes; staff see their bookings' timers through
the services that set them."""
from typing import Annotated

from fastapi import APIRouter, Query

from bookflow_runtime.auth import Operator
from bookflow_runtime.errors import InvalidInput
from bookflow_runtime.http import Session
from bookflow_runtime.inputs import Line
from bookflow_scheduler import storage
from bookflow_scheduler.storage import Timer, TimerCount

router = APIRouter(tags=["timers"])

TimerKey = Line(500)


@router.get("/timers", summary="Timers by exact key or key prefix (operators)")
async def find_timers(
    _: Operator,
    session: Session,
    key: Annotated[TimerKey | None, Query(description="The exact timer key, such as `booking:<id>:release`.")] = None,
    prefix: Annotated[TimerKey | None, Query(description="A key prefix, such as `booking:<id>:`.")] = None,
    tenant_id: Annotated[Line(63) | None, Query(description="Only this tenant's timers.")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[Timer]:
    if not key and not prefix:
        raise InvalidInput("give `key` or `prefix`")
    return await storage.find(session, tenant_id, key=key, prefix=prefix, limit=limit)


@router.get("/timers/counts", summary="How many timers each tenant has in each state (operators)")
async def count_timers(_: Operator, session: Session) -> list[TimerCount]:
    return await storage.count_by_state(session)
