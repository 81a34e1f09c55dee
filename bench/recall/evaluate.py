"""One round of the recall service's evaluation loop (bookflow_recall.handlers.evaluation), in a
process of its own, at a fixed instant: prints its wall time, the steps decided and the process's
peak RSS as one JSON line. Run by bench/recall/run.py.

    python bench/recall/evaluate.py DATABASE_URL INSTANT BATCH
"""
from __future__ import annotations

import asyncio
import json
import os
import resource
import sys
import time
from datetime import datetime

from bookflow_recall.handlers import Deps
from bookflow_recall.handlers.evaluation import RecallEvaluation, Tally
from bookflow_recall.settings import RecallSettings
from bookflow_runtime.database import Database, create_engine


async def main(url: str, instant: str, batch: int) -> None:
    now = datetime.fromisoformat(instant)
    settings = RecallSettings(database_url=url, development=True, evaluation_batch_size=batch)
    engine = create_engine(url)
    evaluation = RecallEvaluation(Database(engine), Deps(settings, clock=lambda: now))
    started, started_at = time.perf_counter(), time.time()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu_at_start = usage.ru_utime + usage.ru_stime
    tally: Tally = await evaluation.round(report=True)
    seconds = time.perf_counter() - started
    await engine.dispose()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(json.dumps({
        "seconds": seconds, "started_at": started_at, "ended_at": started_at + seconds, "steps": sum(tally.outcomes.values()),
        "peak_rss_mb": usage.ru_maxrss / 1024,  # kB on Linux
        "cpu_seconds": usage.ru_utime + usage.ru_stime - cpu_at_start,
    }))


if __name__ == "__main__":
    if os.environ.get("BENCH_PROFILE"):  # where the time goes: python -m pstats $BENCH_PROFILE
        import cProfile

        cProfile.run("asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))", os.environ["BENCH_PROFILE"])
    else:
        asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
