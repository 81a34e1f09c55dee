"""APScheduler 4.0.0a6 as a benchmark peer: every timer is a one-off schedule (`DateTrigger`)
in the SQLAlchemy data store on asyncpg.

Why 4 and not 3.11: 4.0.0a6 installs here and its SQLAlchemyDataStore works with an async
engine on asyncpg, which is what a team on this stack (SQLAlchemy 2.1 + asyncpg) would pick;
3.11's SQLAlchemyJobStore is synchronous only (a psycopg/psycopg2 engine driven from a thread).
It is an alpha: the API and the schema may change before 4.0 and upstream warns against
production use; the limitations below were seen with this version.

Loading: the data store creates its tables when the scheduler is entered. APScheduler 4 has
no batch API for schedules: `AsyncScheduler.add_schedule` is one call per schedule, each
inserting in its own transaction (plus a task lookup). The peer therefore keeps 16
`add_schedule` calls in flight at once on a 16+8-connection engine pool, the way an asyncio
caller speeds up an API without a batch form. The task is configured once, up front, with
`configure_task("timer", func=fire, max_running_jobs=None)`: the default `max_running_jobs`
of a task is 1, which would run the timers strictly one at a time, so it is lifted.
`misfire_grace_time` stays None (a late timer still fires) and job results are not kept
(`job_result_expiration_time=0`, the default), so nothing is written beyond what firing needs.

Firing: one `AsyncScheduler` in the default role (`both`: it turns due schedules into jobs and
runs them) with the default `max_concurrent_jobs=100` and the async job executor (the task is
a coroutine). One scheduler in one process needs no shared event broker: the default
`LocalEventBroker` delivers the data store's events within the process; the docs call for an
external broker (e.g. `AsyncpgEventBroker`) only when several schedulers share a data store.
The scheduler sleeps until the next schedule's fire time and processes due schedules 100 at a
time (a fixed limit in 4.0.0a6), inserting one job per transaction; workers then acquire jobs.

Each job publishes {"id", "due"} to the topic and awaits the broker's acknowledgement before
returning; the job is released only afterwards, so delivery is at-least-once (a crash in
between leaves the job acquired until its lease of 30 s expires, then it runs again). When
every measured timer has fired the scheduler is stopped and the process exits.

Seen with 4.0.0a6: `apscheduler.datastores.sqlalchemy` imports `sniffio` without declaring it
(not even in the `sqlalchemy` extra), so it is installed separately (pinned in
bench/requirements.txt). Loading is CPU-bound in Python (SQLAlchemy statement building and two
transactions per `add_schedule`): about 50-170 schedules/s here whatever the number in flight,
so 10,000 filler timers take one to a few minutes. Firing is also per-row: each due schedule
becomes a job in its own transaction, and acquiring and releasing a job updates the task's
running-jobs counter row, which every job shares; tens of timers/s on the 2-core machine.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from datetime import datetime, timezone

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from apscheduler import AsyncScheduler  # noqa: E402
from apscheduler.datastores.sqlalchemy import SQLAlchemyDataStore  # noqa: E402
from apscheduler.triggers.date import DateTrigger  # noqa: E402
from sqlalchemy.ext.asyncio import create_async_engine  # noqa: E402

import _common as c  # noqa: E402

TASK_ID = "timer"
IN_FLIGHT = 16  # concurrent add_schedule calls while loading

_state: dict = {}


async def fire(id: int | str, due: float) -> None:  # noqa: A002 (the payload's field name)
    await c.publish(_state["producer"], _state["topic"], _state["firings"], id, due)


async def add_all(scheduler: AsyncScheduler, rows: list[tuple[int | str, float]]) -> None:
    """One schedule per timer, IN_FLIGHT add_schedule calls at a time."""
    it = iter(rows)

    async def lane() -> None:
        for timer_id, due in it:
            await scheduler.add_schedule(
                TASK_ID,
                DateTrigger(datetime.fromtimestamp(due, timezone.utc)),
                id=f"timer-{timer_id}",
                kwargs={"id": timer_id, "due": due},
            )

    await asyncio.gather(*(lane() for _ in range(IN_FLIGHT)))


async def run(args) -> None:
    due_rows = c.read_due_file(args.due_file)
    url = args.dsn.replace("postgresql://", "postgresql+asyncpg://", 1)
    engine = create_async_engine(url, pool_size=IN_FLIGHT, max_overflow=8)
    producer = c.new_producer(args.bootstrap)
    firings = c.Firings({i for i, _ in due_rows})
    _state.update(producer=producer, topic=args.topic, firings=firings)
    try:
        async with AsyncScheduler(SQLAlchemyDataStore(engine)) as scheduler:
            await scheduler.configure_task(TASK_ID, func=fire, max_running_jobs=None)

            started = time.time()
            far = started + c.FAR_FUTURE_S
            await add_all(scheduler, [(f"filler-{i}", far) for i in range(args.filler)])
            filler_s = time.time() - started

            t0 = time.time()
            start = t0 + args.lead
            await add_all(scheduler, [(i, start + off) for i, off in due_rows])
            measured_s = time.time() - t0

            await producer.start()
            c.write_ready(args.ready_file, filler_load_s=filler_s, measured_load_s=measured_s, start_epoch=start, lead=args.lead)

            await scheduler.start_in_background()
            stopped = asyncio.create_task(scheduler.wait_until_stopped())
            done_wait = asyncio.create_task(firings.done.wait())
            await asyncio.wait([done_wait, stopped], return_when=asyncio.FIRST_COMPLETED)
            done_wait.cancel()
            await scheduler.stop()
            await stopped
        await producer.flush()
    finally:
        await producer.stop()
        await engine.dispose()
    if not firings.done.is_set():
        raise RuntimeError(f"scheduler stopped with {len(firings.remaining)} timers unfired")


def main() -> None:
    args = c.parse_args(__doc__)
    c.quiet_logging()
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
