"""PgQueuer (1.6.0) as a benchmark peer: every timer is a PgQueuer job with `execute_after`.

Loading: `Queries.install()` (the `pgq install` schema, default `durable` durability: timers
must survive a crash, so the unlogged `balanced`/`volatile` modes the tuning guide offers for
throughput are not used), then `Queries.optimize_autovacuum()` (`pgq autovac`, first item of
the performance-tuning checklist). Jobs are enqueued with the batch form of
`Queries.enqueue(list_of_entrypoints, list_of_payloads, list_of_priorities,
list_of_execute_after)` ("enqueue thousands of jobs per round trip"), 5,000 per call, on one
dedicated asyncpg connection. Filler and measured timers use the same entrypoint, as one timer
type would in production, so the dequeue query has to step over the pending filler.

`execute_after` in 1.6.0 is a timedelta added to the server's NOW() of the insert; the peer
computes `due - time.time()` just before each batch, so a job's due moment in the database is
at most the batch's round trip (a few ms) later than the due epoch in its payload (never
earlier).

Firing: following PgQueuer's own throughput benchmark (`tools/benchmark.py`, 5 dequeue tasks
with batch size 10, asyncpg driver, all in one process) and the performance-tuning guide
("use a direct asyncpg connection, not a pool, for the QueueManager"; "increase batch_size
when jobs are short-lived"), the peer runs 5 `QueueManager`s as asyncio tasks in this one
process, each on its own asyncpg connection, with `batch_size=10` and no per-entrypoint
concurrency limit. The deployment guide says a single asyncio process is enough for IO-bound
jobs (one process per core only for CPU-bound work), so there is one process.
`QueueManager.run` sleeps until the next deferred job's ETA (`next_deferred_eta`, at least
0.1 s between polls) or a NOTIFY, so deferred jobs are picked without a fixed polling interval.

Each job publishes {"id", "due"} to the topic and awaits the broker's acknowledgement; the job
is marked done only after that, so delivery is at-least-once (a crash between the publish and
the completion would run the job again after the heartbeat timeout). When every measured timer
has fired, the managers are shut down (they flush their status buffers) and the process exits.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from datetime import timedelta

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import asyncpg  # noqa: E402
from pgqueuer import AsyncpgDriver, Job, Queries, QueueManager  # noqa: E402

import _common as c  # noqa: E402

ENTRYPOINT = "timer"
ENQUEUE_BATCH = 5_000
MANAGERS = 5  # dequeue tasks, as in PgQueuer's tools/benchmark.py
BATCH_SIZE = 10  # dequeue batch size, as in PgQueuer's tools/benchmark.py


async def enqueue(queries: Queries, rows: list[tuple[int | str, float]]) -> None:
    """Enqueue (id, due_epoch) rows in batches."""
    for batch in c.chunks(rows, ENQUEUE_BATCH):
        n = len(batch)
        now = time.time()
        await queries.enqueue(
            [ENTRYPOINT] * n,
            [json.dumps({"id": i, "due": due}).encode() for i, due in batch],
            [0] * n,
            [timedelta(seconds=due - now) for _, due in batch],
        )


async def run(args) -> None:
    due_rows = c.read_due_file(args.due_file)
    loader = await asyncpg.connect(args.dsn)
    queries = Queries(AsyncpgDriver(loader))
    await queries.install()
    await queries.optimize_autovacuum()

    started = time.time()
    far = started + c.FAR_FUTURE_S
    await enqueue(queries, [(f"filler-{i}", far) for i in range(args.filler)])
    filler_s = time.time() - started

    t0 = time.time()
    start = t0 + args.lead
    await enqueue(queries, [(i, start + off) for i, off in due_rows])
    measured_s = time.time() - t0
    await loader.close()

    producer = c.new_producer(args.bootstrap)
    await producer.start()
    firings = c.Firings({i for i, _ in due_rows})

    managers: list[QueueManager] = []
    conns: list[asyncpg.Connection] = []
    for _ in range(MANAGERS):
        conn = await asyncpg.connect(args.dsn)
        conns.append(conn)
        qm = QueueManager(Queries(AsyncpgDriver(conn)))

        @qm.entrypoint(ENTRYPOINT)
        async def fire(job: Job) -> None:
            body = json.loads(job.payload)
            await c.publish(producer, args.topic, firings, body["id"], body["due"])

        managers.append(qm)

    c.write_ready(args.ready_file, filler_load_s=filler_s, measured_load_s=measured_s, start_epoch=start, lead=args.lead)

    runs = [asyncio.create_task(qm.run(batch_size=BATCH_SIZE)) for qm in managers]
    done_wait = asyncio.create_task(firings.done.wait())
    await asyncio.wait([done_wait, *runs], return_when=asyncio.FIRST_COMPLETED)
    for qm in managers:
        qm.shutdown.set()
    results = await asyncio.gather(*runs, return_exceptions=True)
    done_wait.cancel()
    await producer.flush()
    await producer.stop()
    for conn in conns:
        await conn.close()
    errors = [r for r in results if isinstance(r, BaseException)]
    if errors:
        raise errors[0]
    if not firings.done.is_set():
        raise RuntimeError(f"workers stopped with {len(firings.remaining)} timers unfired")


def main() -> None:
    args = c.parse_args(__doc__)
    c.quiet_logging()
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
