"""What the whole system costs when nothing happens, and what that saving costs in latency.

Twice in one run, each time on a fresh local broker: all services as their real processes (the
`Stack` that `bookflow up` and the system tests start) on the tests' PostgreSQL, left alone to
settle, then their CPU and the broker's counted over a quiet spell; then probes, each after a
quiet spell of its own: a timer due at once sent to `timer.requests`, timed until its
`reminder.due` is on the broker (one idle consumer to wake, the scheduler's). The baseline polls
every 50 ms whether there is work or not (`BOOKFLOW_CONSUMER_IDLE_FETCH_WAIT_MS=50`, as every
consumer did before 2026-12-01); the second run uses the defaults (a consumer idle for a second
waits up to `consumer_idle_fetch_wait_ms` per fetch).

    ./bookflow bench idle [--seconds 20] [--probes 10]
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import psutil
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from bookflow_contracts import Envelope, SetTimer, encode, topics
from bookflow_devstack import infra
from bookflow_devstack.processes import SERVICES, Stack
from bookflow_runtime.kafka import ensure_topics

SETTINGS = {
    "polling every 50 ms (baseline)": {"BOOKFLOW_CONSUMER_IDLE_FETCH_WAIT_MS": "50"},
    "idle pacing (defaults)": {},
}


def cpu_seconds(processes: dict[str, psutil.Process]) -> dict[str, float]:
    """CPU seconds so far of each named process and its children."""
    out = {}
    for name, root in processes.items():
        total = 0.0
        with contextlib.suppress(psutil.Error):
            for p in [root, *root.children(recursive=True)]:
                with contextlib.suppress(psutil.Error):
                    t = p.cpu_times()
                    total += t.user + t.system
        out[name] = total
    return out


def broker_process() -> psutil.Process:
    return next(p for p in psutil.Process().children(recursive=True) if "tansu" in " ".join(p.cmdline()))


async def probe_latencies(bootstrap: str, count: int, quiet_seconds: float) -> list[float]:
    """Milliseconds from sending a timer due at once to its firing on `reminder.due`."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=0)
    consumer = AIOKafkaConsumer(topics.REMINDER_DUE, bootstrap_servers=bootstrap, auto_offset_reset="latest",
                                enable_auto_commit=False, fetch_max_wait_ms=5)
    await producer.start()
    await consumer.start()
    latencies = []
    try:
        while not consumer.assignment():
            await consumer.getmany(timeout_ms=100)
        tenant = f"idle-{uuid.uuid4().hex[:8]}"
        for i in range(count):
            await asyncio.sleep(quiet_seconds)  # the scheduler's consumer goes idle again
            key = f"probe:{i}"
            now = datetime.now(UTC)
            env = Envelope.wrap(SetTimer(timer_key=key, due_at=now, payload={}), tenant_id=tenant, occurred_at=now)
            sent = time.perf_counter()
            await producer.send_and_wait(topics.TIMER_REQUESTS, encode(env), key=env.key.encode(), headers=env.headers())
            while True:
                batch = await consumer.getmany(timeout_ms=1000)
                if any(key.encode() in r.value for part in batch.values() for r in part):
                    latencies.append((time.perf_counter() - sent) * 1000)
                    break
    finally:
        await consumer.stop()
        await producer.stop()
    return latencies


async def one_run(label: str, env: dict[str, str], args: argparse.Namespace, pg: infra.Postgres, work: Path) -> dict:
    kafka = infra.start_tansu()
    stack = Stack(kafka, pg, work / label.split()[0] / "logs", {name: infra.free_port() for name in SERVICES},
                  database_prefix=f"bench_idle_{uuid.uuid4().hex[:6]}_",
                  extra_env={name: {"BOOKFLOW_LOG_LEVEL": "WARNING", "BOOKFLOW_DEVELOPMENT": "1", **env} for name in SERVICES})
    try:
        await ensure_topics(kafka.bootstrap_servers, topics.ALL, partitions=4)
        await asyncio.to_thread(stack.prepare, fresh=True)
        await asyncio.to_thread(stack.start)
        await asyncio.sleep(args.settle)
        processes = {name: psutil.Process(svc.proc.pid) for name, svc in stack.services.items() if svc.proc}
        processes["broker"] = broker_process()
        before, started = cpu_seconds(processes), time.monotonic()
        await asyncio.sleep(args.seconds)
        after, elapsed = cpu_seconds(processes), time.monotonic() - started
        cpu = {name: (after[name] - before[name]) / elapsed * 100 for name in processes}
        latencies = await probe_latencies(kafka.bootstrap_servers, args.probes, args.quiet)
        return {"cpu": cpu, "latencies": latencies}
    finally:
        await asyncio.to_thread(stack.stop)
        await asyncio.to_thread(stack.drop_databases)
        kafka.stop()


def report(results: dict[str, dict]) -> None:
    labels = list(results)
    names = list(results[labels[0]]["cpu"])
    print(f"\nCPU while idle, % of one core ({os.cpu_count()} cores):")
    print(f"  {'process':<14}" + "".join(f"{label:>34}" for label in labels))
    for name in names:
        print(f"  {name:<14}" + "".join(f"{results[label]['cpu'][name]:>34.1f}" for label in labels))
    totals = {label: sum(results[label]["cpu"].values()) for label in labels}
    print(f"  {'all':<14}" + "".join(f"{totals[label]:>34.1f}" for label in labels))
    print(f"  defaults / baseline: {totals[labels[1]] / totals[labels[0]]:.2f}")
    print("\nA timer due at once, sent after a quiet spell, until its reminder.due (ms):")
    for label in labels:
        lat = sorted(results[label]["latencies"])
        print(f"  {label:<34} p50 {statistics.median(lat):6.0f}   max {lat[-1]:6.0f}   ({len(lat)} probes)")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=20, help="the quiet spell over which CPU is counted")
    parser.add_argument("--settle", type=float, default=10, help="seconds after start-up before counting")
    parser.add_argument("--probes", type=int, default=10, help="timers sent one at a time after the count")
    parser.add_argument("--quiet", type=float, default=3, help="seconds of quiet before each probe")
    args = parser.parse_args()
    os.environ.setdefault("BOOKFLOW_NO_CONTAINERS", "1")
    work = Path(tempfile.mkdtemp(prefix="bench-idle-"))
    pg = await asyncio.to_thread(infra.postgres_for_tests, work)
    print(f"idle benchmark: all services, {args.settle:g} s to settle, {args.seconds:g} s counted, "
          f"{args.probes} probes; logs in {work}", flush=True)
    try:
        results = {}
        for label, env in SETTINGS.items():
            results[label] = await one_run(label, env, args, pg, work)
            print(f"  {label}: done", flush=True)
        report(results)
    finally:
        pg.stop()


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
