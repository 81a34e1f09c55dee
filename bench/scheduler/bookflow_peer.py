"""bookflow's scheduler as a benchmark peer, with the same command line as the peers in peers/.

Migrates the scheduler's database, loads the filler and the measured timers straight into its
timers table (COPY, the way a bulk import would), writes the ready file, then replaces itself
with the scheduler service (`python -m bookflow_scheduler`), which fires them on `reminder.due`.
The topic argument is ignored: bookflow always fires on `reminder.due`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from datetime import UTC, datetime, timedelta

import asyncpg

from bookflow_runtime.migrations import upgrade
from bookflow_scheduler import MIGRATIONS

TENANT = "bench"


async def load(dsn: str, due_file: str, filler: int, lead: float) -> dict:
    conn = await asyncpg.connect(dsn)
    try:
        started = time.time()
        far = datetime.now(UTC) + timedelta(days=1)
        await _copy(conn, ((f"filler:{i}", far, "{}") for i in range(filler)))
        filler_s = time.time() - started
        t0 = time.time()
        start = t0 + lead
        with open(due_file) as f:
            rows = []
            for line in f:
                timer_id, offset = line.split()
                due = datetime.fromtimestamp(start + float(offset), UTC)
                rows.append((f"booking:{timer_id}:bench", due, json.dumps({"id": int(timer_id)})))
        await _copy(conn, rows)
        measured_s = time.time() - t0
        return {"filler_load_s": filler_s, "measured_load_s": measured_s, "start_epoch": start, "load_overran": measured_s > lead}
    finally:
        await conn.close()


async def _copy(conn: asyncpg.Connection, rows) -> None:
    batch = []
    for key, due, payload in rows:
        batch.append((TENANT, key, due, payload, "pending", 1))
        if len(batch) == 50_000:
            await conn.copy_records_to_table("timers", records=batch, columns=["tenant_id", "timer_key", "due_at", "payload", "state", "generation"])
            batch = []
    if batch:
        await conn.copy_records_to_table("timers", records=batch, columns=["tenant_id", "timer_key", "due_at", "payload", "state", "generation"])
    await conn.execute("ANALYZE timers")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--dsn", required=True)
    p.add_argument("--bootstrap", required=True)
    p.add_argument("--topic", default="reminder.due")
    p.add_argument("--due-file", required=True)
    p.add_argument("--filler", type=int, default=0)
    p.add_argument("--lead", type=float, default=10.0)
    p.add_argument("--ready-file", required=True)
    p.add_argument("--port", type=int, default=0)
    args = p.parse_args()
    sqlalchemy_url = args.dsn.replace("postgresql://", "postgresql+asyncpg://", 1)
    upgrade(MIGRATIONS, sqlalchemy_url)
    ready = asyncio.run(load(args.dsn, args.due_file, args.filler, args.lead))
    with open(args.ready_file, "w") as f:
        json.dump(ready, f)
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": args.bootstrap,
        "BOOKFLOW_SCHEDULER_DATABASE_URL": sqlalchemy_url,
        "BOOKFLOW_SCHEDULER_HTTP_PORT": str(args.port),
        "BOOKFLOW_LOG_LEVEL": "WARNING",
        "BOOKFLOW_DEVELOPMENT": "1",
    }
    os.execve(sys.executable, [sys.executable, "-m", "bookflow_scheduler"], env)


if __name__ == "__main__":
    main()
