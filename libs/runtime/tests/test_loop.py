"""Long batches take turns with the rest of the process (`in_turns`); work run `together` has
finished, cleanup included, when its caller ends."""
from __future__ import annotations

import asyncio

import pytest

from bookflow_runtime.loop import in_turns, together


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


async def test_work_run_together_has_finished_its_cleanup_when_the_caller_is_cancelled() -> None:
    """The notification dispatcher's lanes: one records a send cut short by the stop, the others
    rest. The stop read the message as `sending` because gather ended with the resting lanes."""
    recorded: list[str] = []
    started = asyncio.Event()

    async def lane_in_the_middle_of_a_send() -> None:
        try:
            started.set()
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            await asyncio.sleep(0.05)  # a database round trip
            recorded.append("outcome unknown")
            raise

    async def resting_lane() -> None:
        await asyncio.Event().wait()

    run = asyncio.create_task(together(lane_in_the_middle_of_a_send(), resting_lane(), resting_lane()))
    await started.wait()
    run.cancel()
    with pytest.raises(asyncio.CancelledError):
        await run
    assert recorded == ["outcome unknown"]


async def test_when_one_piece_fails_the_others_are_stopped_and_its_error_is_raised_as_it_is() -> None:
    stopped: list[str] = []

    async def failing() -> None:
        raise ConnectionRefusedError("database down")

    async def long() -> None:
        try:
            await asyncio.Event().wait()
        finally:
            stopped.append("long")

    with pytest.raises(ConnectionRefusedError):
        await together(long(), failing())
    assert stopped == ["long"]
    assert await together(asyncio.sleep(0, "a"), asyncio.sleep(0, "b")) == ["a", "b"]
