"""Long batches take turns with the rest of the process (`in_turns`)."""
from __future__ import annotations

import asyncio

from bookflow_runtime.loop import in_turns


async def test_a_long_batch_lets_work_that_is_ready_run_between_its_turns() -> None:
    handled: list[int] = []
    seen_by_request: list[int] = []

    async def request() -> None:  # ready to run as the batch starts, like a request whose answer came in
        seen_by_request.append(len(handled))

    waiting = asyncio.create_task(request())
    async for item in in_turns(range(120), turn=50):
        handled.append(item)
    await waiting
    assert handled == list(range(120))
    assert seen_by_request == [50]  # after the first turn, not after the whole batch
