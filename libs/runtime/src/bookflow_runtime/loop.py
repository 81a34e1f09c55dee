"""The one way background work runs in every service: rounds of work, woken early by a signal,
waiting out failures with a growing pause; and long stretches of work that take turns with the
rest of the process.

The outbox relay, the scheduler's firing, the notification dispatcher and the topic watch are
each a `run_rounds` over a function that does one round and says how long it may rest.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import TypeVar

from bookflow_runtime.outages import is_outage

_log = logging.getLogger(__name__)
T = TypeVar("T")

TURN = 50
"""Items of a batch handled before the event loop serves others (HTTP requests above all)."""


async def in_turns(items: Iterable[T], turn: int = TURN) -> AsyncIterator[T]:
    """`items` one by one, letting the event loop run whatever else is ready after every `turn`
    of them. A consumed batch of 500 decoded, decided and encoded in one stretch kept every
    request of the process waiting for all of it, at each of the request's awaits (issue 17)."""
    for i, item in enumerate(items, 1):
        yield item
        if i % turn == 0:
            await asyncio.sleep(0)


async def together(*work: Awaitable[T]) -> list[T]:
    """Run `work` at once and return the results in order. Unlike `asyncio.gather`, when this is
    cancelled or one piece fails, the others are cancelled and waited for before it raises: a
    piece that records something on its way out (the dispatcher's lane recording a send cut short
    by a stop) has done so when its caller ends. Gather ends at the first cancelled piece, so a
    service's stop returned while a lane was still writing (issue 11: CI read `sending`)."""
    tasks = [asyncio.ensure_future(piece) for piece in work]
    try:
        return await asyncio.gather(*tasks)
    except BaseException:
        for task in tasks:
            if not task.cancelling():  # asked once is enough: a second request would cut its cleanup short
                task.cancel()
        if tasks:
            await asyncio.wait(tasks)
        raise


class Wakeup:
    """A signal that something changed (rows committed, a timer set): whoever waits wakes now
    instead of at the end of its rest. A signal sent while nobody waits is kept for the next wait."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def wake(self, *_: object) -> None:
        """Wake the waiter (extra arguments are ignored, so it can be any callback)."""
        self._event.set()

    def clear(self) -> None:
        """Forget a signal sent so far (the waiter is about to look at everything it announced)."""
        self._event.clear()

    async def rest(self, seconds: float) -> None:
        """Wait until woken or until `seconds` pass; either way the signal is used up."""
        if seconds > 0 and not self._event.is_set():
            try:
                await asyncio.wait_for(self._event.wait(), seconds)
            except TimeoutError:
                pass
        self._event.clear()


class Backoff:
    """A pause that doubles after each failure (0.1 s up to `most`), and resets after a success."""

    def __init__(self, first: float = 0.1, most: float = 5.0) -> None:
        self.first, self.most = first, most
        self.next = first

    async def pause(self) -> float:
        waited = self.next
        await asyncio.sleep(waited)
        self.next = min(self.next * 2, self.most)
        return waited

    def reset(self) -> None:
        self.next = self.first


Round = Callable[[], Awaitable[float]]
"""One round of work; returns how long to rest before the next (0: go on at once)."""


async def run_rounds(name: str, round_: Round, wakeup: Wakeup | None = None, *, backoff: Backoff | None = None) -> None:
    """Run `round_` until cancelled. A failing round is logged and retried after a growing pause
    (a database or broker outage is waited out); a rest ends early when `wakeup` is woken."""
    wakeup = wakeup or Wakeup()
    backoff = backoff or Backoff()
    while True:
        try:
            rest = await round_()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 (the loop outlives a bad round; the next one retries)
            if is_outage(exc):
                _log.warning("%s: database or broker unavailable, retrying in %.1f s: %r", name, backoff.next, exc)
            else:
                _log.exception("%s failed; retrying in %.1f s", name, backoff.next)
            await backoff.pause()
            continue
        backoff.reset()
        if rest > 0:
            await wakeup.rest(rest)
