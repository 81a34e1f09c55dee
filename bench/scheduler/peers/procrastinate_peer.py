"""Procrastinate (3.10.0) as a benchmark peer: every timer is a job deferred with `schedule_at`.

Loading: `app.schema_manager.apply_schema_async()` (what `procrastinate schema --apply` runs).
The batch-defer how-to recommends `batch_defer_async` over deferring jobs one by one, but that
method defers every job of a batch with the same configuration (one `schedule_at`). Timers
have one due moment each, so the peer builds each job with the documented
`task.configure(schedule_at=..., task_kwargs=...)` and hands a batch of 2,000 of them to
`app.job_manager.batch_defer_jobs_async`, the call `batch_defer_async` itself makes (one
`procrastinate_defer_jobs_v1(array)` statement per batch). Filler and measured timers are
the same task in the same queue, as one timer type would be in production.

Firing: one worker process (`app.run_worker_async`) with asynchronous sub-workers, as the
concurrency how-to recommends for I/O-bound async tasks ("procrastinate worker
--concurrency=30"; several processes are the way for synchronous tasks, which these are not):
`concurrency=30`. The pool is sized per the "Mind the size of your PostgreSQL pool"
discussion: short jobs want as many connections as sub-workers, plus one, so
`max_size=31` (the LISTEN connection comes on top). Procrastinate's LISTEN/NOTIFY only
signals insertions, so a job whose `schedule_at` arrives is found by polling; the docs'
"Mind the worker_timeout" section says to lower the polling interval when idle workers are
slow to notice a job that became available, so `fetch_job_polling_interval=0.1` (default 5 s,
which would make every timer up to 5 s late). `delete_jobs="successful"` as the production
how-to (delete finished jobs) recommends for high volumes, so finished timers leave the table.

Each job publishes {"id", "due"} to the topic and awaits the broker's acknowledgement before
the task returns; only then does the worker mark the job succeeded, so delivery is
at-least-once (a crash in between leaves the job 'doing', to be retried as a stalled job).
When every measured timer has fired, the worker task is cancelled, which procrastinate turns
into a graceful stop (running jobs finish), and the process exits.

psycopg is used with its compiled `psycopg-binary` implementation (psycopg's recommended quick
install); procrastinate itself only pulls in pure-Python psycopg.

Seen with 3.10.0: `procrastinate_fetch_job_v2` takes one job per call, ordered by
(priority DESC, id ASC) over the partial index of all 'todo' jobs, and drops the ones whose
scheduled_at is still in the future row by row. Every pending future timer (the filler, and
measured timers inserted before a due one) is therefore stepped over on every fetch, and the
fetches of one worker run one after the other: firing throughput falls as the number of
pending timers grows (tens of jobs/s with 10,000 pending on the 2-core machine).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
import time
from datetime import datetime, timezone

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import procrastinate  # noqa: E402

import _common as c  # noqa: E402

QUEUE = "timers"
DEFER_BATCH = 2_000
CONCURRENCY = 30
POLL_S = 0.1

_state: dict = {}


def make_app(dsn: str) -> procrastinate.App:
    # The App lives in __main__ together with its only task, the case the "top-level app"
    # discussion says is fine; silence that warning so stderr carries only real problems.
    logging.getLogger("procrastinate.blueprints").setLevel(logging.ERROR)
    app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=dsn, min_size=4, max_size=CONCURRENCY + 1))

    @app.task(name="timer", queue=QUEUE)
    async def timer(id: int | str, due: float) -> None:  # noqa: A002 (the payload's field name)
        await c.publish(_state["producer"], _state["topic"], _state["firings"], id, due)

    _state["task"] = timer
    return app


async def defer(app: procrastinate.App, rows: list[tuple[int | str, float]]) -> None:
    task = _state["task"]
    for batch in c.chunks(rows, DEFER_BATCH):
        jobs = [
            task.configure(schedule_at=datetime.fromtimestamp(due, timezone.utc), task_kwargs={"id": i, "due": due}).job
            for i, due in batch
        ]
        await app.job_manager.batch_defer_jobs_async(jobs)


async def run(args) -> None:
    due_rows = c.read_due_file(args.due_file)
    app = make_app(args.dsn)
    async with app.open_async():
        await app.schema_manager.apply_schema_async()

        started = time.time()
        far = started + c.FAR_FUTURE_S
        await defer(app, [(f"filler-{i}", far) for i in range(args.filler)])
        filler_s = time.time() - started

        t0 = time.time()
        start = t0 + args.lead
        await defer(app, [(i, start + off) for i, off in due_rows])
        measured_s = time.time() - t0

        producer = c.new_producer(args.bootstrap)
        await producer.start()
        firings = c.Firings({i for i, _ in due_rows})
        _state.update(producer=producer, topic=args.topic, firings=firings)

        c.write_ready(args.ready_file, filler_load_s=filler_s, measured_load_s=measured_s, start_epoch=start, lead=args.lead)

        worker = asyncio.create_task(
            app.run_worker_async(
                queues=[QUEUE],
                concurrency=CONCURRENCY,
                fetch_job_polling_interval=POLL_S,
                delete_jobs="successful",
                install_signal_handlers=False,
            )
        )
        done_wait = asyncio.create_task(firings.done.wait())
        await asyncio.wait([done_wait, worker], return_when=asyncio.FIRST_COMPLETED)
        worker_error = None
        if worker.done():
            worker_error = worker.exception()
        else:
            worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await worker
        done_wait.cancel()
        await producer.flush()
        await producer.stop()
    if worker_error:
        raise worker_error
    if not firings.done.is_set():
        raise RuntimeError(f"worker stopped with {len(firings.remaining)} timers unfired")


def main() -> None:
    args = c.parse_args(__doc__)
    c.quiet_logging()
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
