"""The scheduler benchmark: bookflow against the job schedulers a Python team would pick instead.

Each peer gets a fresh database on the same PostgreSQL and a fresh topic on the same local broker,
loads the same timers, and publishes one Kafka message per timer at its due instant. This
process reads the topic and measures, for every timer, how late its message arrived.

Scenarios:
  burst     N timers all due at one instant, 10k others pending: fired per second
  burst-1M  the same with 1,000,000 others pending: the rate must hold (ratio to burst)
  steady    1,000 timers a second for S seconds: lateness p50 / p99 / max

    python bench/scheduler/run.py                      # all peers, all scenarios
    python bench/scheduler/run.py --peers bookflow --quick
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import psutil
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from bookflow_contracts import topics
from bookflow_devstack import infra
from bookflow_runtime.kafka import ensure_topics

HERE = Path(__file__).resolve().parent
PEERS = {
    "bookflow": HERE / "bookflow_peer.py",
    "pgqueuer": HERE / "peers" / "pgqueuer_peer.py",
    "procrastinate": HERE / "peers" / "procrastinate_peer.py",
    "apscheduler": HERE / "peers" / "apscheduler_peer.py",
}


CLAIM_LATENESS: list[float] = []  # bookflow only: fired_at - due_at, to tell claiming from delivery
HOPS: list[tuple[float, float, float, float]] = []  # bookflow only: (due, fired, record timestamp, arrival) epochs, for --dump
RELAY_DELAY: list[float] = []  # bookflow only: record timestamp (the relay's append) - fired_at
DELIVERY_DELAY: list[float] = []  # bookflow only: arrival here - record timestamp (produce, broker, fetch)


@dataclass
class Result:
    peer: str
    scenario: str
    timers: int
    fired_per_s: float = 0.0
    lateness_ms: list[float] = field(default_factory=list)
    peak_rss_mb: float = 0.0
    duplicates: int = 0
    missing: int = 0
    note: str = ""
    filler_rate: float | None = None
    cpu: dict[str, float] = field(default_factory=dict)  # share of one core from the first instant to the last arrival

    def pct(self, q: float) -> float:
        if not self.lateness_ms:
            return float("nan")
        ordered = sorted(self.lateness_ms)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def create_topic(bootstrap: str, name: str, partitions: int) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        if name not in await admin.list_topics():
            await admin.create_topics([NewTopic(name, partitions, 1)])
    finally:
        await admin.close()


def parse(value: bytes, timestamp_ms: int | None = None, received: float | None = None) -> tuple[int, float]:
    """(timer id, due epoch) from a peer's message or from bookflow's `reminder.due` envelope.

    For bookflow it also splits the lateness in three: claimed (the firing's `fired_at` minus the
    instant), relayed (the record's timestamp, which the relay's producer stamps as it appends the
    record to a batch, minus `fired_at`: the commit, NOTIFY and the relay's read) and delivered
    (arrival here minus the record's timestamp: the producer, the broker and this fetch)."""
    body = json.loads(value)
    if "payload" in body and "event_id" in body:
        from datetime import datetime

        inner = body["payload"]
        due = datetime.fromisoformat(inner["due_at"]).timestamp()
        fired = datetime.fromisoformat(inner["fired_at"]).timestamp()
        CLAIM_LATENESS.append((fired - due) * 1000)
        if timestamp_ms is not None and received is not None:
            HOPS.append((due, fired, timestamp_ms / 1000, received))
            RELAY_DELAY.append(timestamp_ms - fired * 1000)
            DELIVERY_DELAY.append((received * 1000) - timestamp_ms)
        return int(inner["payload"]["id"]), due
    return int(body["id"]), float(body["due"])


def postmaster_pid() -> int | None:
    """The PostgreSQL server's main process (its backends are children): counted with the CPU."""
    for proc in psutil.process_iter(["name", "ppid"]):
        try:
            if proc.info["name"] == "postgres" and psutil.Process(proc.info["ppid"]).name() != "postgres":
                return proc.pid
        except psutil.Error:
            continue
    return None


def tree_cpu(pid: int, children: bool = True) -> float:
    """CPU seconds (user + system) of a process and its children so far."""
    try:
        root = psutil.Process(pid)
        return sum(sum(p.cpu_times()[:2]) for p in [root, *(root.children(recursive=True) if children else ())])
    except psutil.Error:
        return 0.0


async def measure(bootstrap: str, topic: str, expected: int, proc: subprocess.Popen, timeout: float,
                  started: float, others: dict[str, int]) -> tuple[dict[int, tuple[float, float]], int, float, dict[str, float]]:
    """Read the topic until every timer arrived or `timeout` passed; sample the peer's memory,
    and its CPU and that of `others` (name: pid) from the first instant to the last arrival."""
    pids = {"peer": proc.pid, **others}

    def cpu_now() -> dict[str, float]:  # the harness alone: the peer and the broker are its children
        return {**{name: tree_cpu(pid) for name, pid in pids.items()}, "harness": tree_cpu(os.getpid(), children=False)}

    cpu_at_start: tuple[float, dict[str, float]] | None = None
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest", fetch_max_wait_ms=10)
    await consumer.start()
    parts = consumer.partitions_for_topic(topic) or set()
    consumer.assign([TopicPartition(topic, p) for p in parts])
    arrived: dict[int, tuple[float, float]] = {}
    duplicates = 0
    peak, next_rss = 0, 0.0
    deadline = time.monotonic() + timeout
    try:
        while len(arrived) < expected and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=20)
            now = time.time()
            for records in batch.values():
                for r in records:
                    timer_id, due = parse(r.value, r.timestamp, now)
                    if timer_id in arrived:
                        duplicates += 1
                    else:
                        arrived[timer_id] = (due, now)
            if now >= next_rss:  # a look at the process tree blocks this loop for 1-2 ms: not after every fetch
                peak = max(peak, tree_rss(proc.pid))
                next_rss = now + 0.1
            if cpu_at_start is None and now >= started:
                cpu_at_start = (now, cpu_now())
        cpu_at_end = (time.time(), cpu_now())
    finally:
        await consumer.stop()
    cpu = {}
    if cpu_at_start is not None:
        span = max(cpu_at_end[0] - cpu_at_start[0], 1e-3)
        cpu = {name: (cpu_at_end[1][name] - cpu_at_start[1][name]) / span for name in cpu_at_end[1]}
    return arrived, duplicates, peak / 2**20, cpu


MAX_LOAD_SECONDS = 300  # a peer that cannot load its timers in five minutes is reported, not waited for
MAX_FIRING_SECONDS = 120  # after the last due instant; what has not arrived by then is reported missing


async def wait_for_file(path: Path, proc: subprocess.Popen, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.stat().st_size:
            return True
        if proc.poll() is not None:
            return False
        await asyncio.sleep(0.1)
    return False


def tree_rss(pid: int) -> int:
    try:
        root = psutil.Process(pid)
        return sum(p.memory_info().rss for p in [root, *root.children(recursive=True)])
    except psutil.Error:
        return 0


async def run_one(peer: str, scenario: str, due: list[float], filler: int, lead: float, kafka: infra.Kafka, pg: infra.Postgres,
                  broker_pid: int | None = None) -> Result:
    db = f"bench_{peer}_{uuid.uuid4().hex[:6]}"
    await asyncio.to_thread(pg.create_database, db, fresh=True)
    dsn = pg.url(db, "postgresql")
    topic = topics.REMINDER_DUE if peer == "bookflow" else f"bench.{peer}.{uuid.uuid4().hex[:6]}"
    if peer != "bookflow":
        await create_topic(kafka.bootstrap_servers, topic, 4)
    work = Path(tempfile.mkdtemp(prefix="bench-"))
    due_file, ready_file = work / "due.txt", work / "ready.json"
    due_file.write_text("".join(f"{i} {offset:.6f}\n" for i, offset in enumerate(due)))
    cmd = [sys.executable, str(PEERS[peer]), "--dsn", dsn, "--bootstrap", kafka.bootstrap_servers, "--topic", topic,
           "--due-file", str(due_file), "--filler", str(filler), "--lead", str(lead), "--ready-file", str(ready_file)]
    log = open(work / "peer.log", "wb")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    result = Result(peer, scenario, len(due))
    try:
        loaded = await wait_for_file(ready_file, proc, MAX_LOAD_SECONDS + lead)
        if not loaded:
            result.note = f"loading did not finish within {MAX_LOAD_SECONDS + lead:.0f} s"
            result.missing = len(due)
            return result
        span = max(due) if due else 0
        started = json.loads(ready_file.read_text())["start_epoch"]
        arrived, result.duplicates, result.peak_rss_mb, result.cpu = await measure(
            kafka.bootstrap_servers, topic, len(due), proc, timeout=max(0.0, started - time.time()) + span + MAX_FIRING_SECONDS,
            started=started, others={name: pid for name, pid in (("broker", broker_pid), ("postgres", postmaster_pid())) if pid},
        )
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
        await asyncio.to_thread(pg.drop_database, db)
    ready = json.loads(ready_file.read_text()) if ready_file.exists() else {}
    result.filler_rate = filler / ready["filler_load_s"] if ready.get("filler_load_s") else None
    if ready.get("load_overran"):
        result.note = f"loading took {ready['measured_load_s']:.1f} s > lead"
    result.missing = len(due) - len(arrived)
    if result.missing:
        result.note += f" {result.missing} of {len(due)} had not fired {MAX_FIRING_SECONDS} s after the last instant"
    if arrived:
        result.lateness_ms = [max(0.0, (recv - d) * 1000) for d, recv in arrived.values()]
        first_due = min(d for d, _ in arrived.values())
        last = max(recv for _, recv in arrived.values())
        result.fired_per_s = len(arrived) / max(last - first_due, 1e-3)
        if result.missing:  # stopped early: the rate over the time the run was given
            result.fired_per_s = len(arrived) / max(time.time() - first_due, 1e-3)
    return result


def scenarios(args: argparse.Namespace) -> list[tuple[str, list[float], int]]:
    steady = [i / args.rate for i in range(int(args.rate * args.seconds))]
    out = [("burst", [0.0] * args.burst, 10_000), ("steady", steady, 10_000)]
    if args.million:
        out.insert(1, ("burst-1M", [0.0] * args.burst, 1_000_000))
    return [scenario for scenario in out if not args.scenarios or scenario[0] in args.scenarios]


async def main(args: argparse.Namespace) -> list[Result]:
    pg = await asyncio.to_thread(infra.postgres_for_tests, Path(tempfile.mkdtemp(prefix="bench-pg-")))
    results = []
    filler_rates: dict[str, float | None] = {}
    for name, due, filler in scenarios(args):
        for peer in args.peers:
            rate = filler_rates.get(peer)
            if filler > 100_000 and rate and filler / rate > MAX_LOAD_SECONDS:
                skipped = Result(peer, name, len(due), note=f"not run: loading {filler:,} timers at the {rate:.0f}/s it loaded 10k would take {filler / rate / 60:.0f} min")
                results.append(skipped)
                print(f"{peer:>13} {name:<9} {skipped.note}", flush=True)
                continue
            kafka = infra.start_tansu()  # a fresh, empty broker: fetch cost grows with history
            try:
                await ensure_topics(kafka.bootstrap_servers, topics.ALL, partitions=4)
                broker_pid = int(m.group(1)) if (m := re.search(r"pid (\d+)", kafka.origin)) else None
                result = await run_one(peer, name, due, filler, args.lead, kafka, pg, broker_pid)
            finally:
                kafka.stop()
            results.append(result)
            if result.filler_rate and filler <= 100_000:
                filler_rates[peer] = result.filler_rate
            if args.dump and HOPS:
                with open(f"{args.dump}-{peer}-{name}.csv", "w") as f:
                    f.write("due,fired,record_timestamp,arrived\n")
                    f.writelines(f"{d:.6f},{fi:.6f},{ts:.6f},{a:.6f}\n" for d, fi, ts, a in HOPS)
            HOPS.clear()
            if CLAIM_LATENESS:
                c = sorted(CLAIM_LATENESS)
                print(f"{'':>13} claimed late p50 {c[len(c) // 2]:.1f} ms p99 {c[int(len(c) * 0.99)]:.1f} ms", flush=True)
                CLAIM_LATENESS.clear()
                for label, hop in (("claimed → relayed", RELAY_DELAY), ("relayed → arrived", DELIVERY_DELAY)):
                    if hop:
                        h = sorted(hop)
                        print(f"{'':>13} {label} p50 {h[len(h) // 2]:.1f} ms p99 {h[int(len(h) * 0.99)]:.1f} ms", flush=True)
                    hop.clear()
            print(f"{peer:>13} {name:<9} fired/s {result.fired_per_s:9.0f}  p50 {result.pct(0.5):8.1f} ms  "
                  f"p99 {result.pct(0.99):8.1f} ms  max {max(result.lateness_ms, default=float('nan')):8.1f} ms  "
                  f"peak RSS {result.peak_rss_mb:6.1f} MB  dup {result.duplicates} {result.note}", flush=True)
            if result.cpu:
                print(f"{'':>13} CPU (share of a core) " + ", ".join(f"{k} {v:.0%}" for k, v in result.cpu.items()), flush=True)
    return results


def report(results: list[Result]) -> str:
    by = {(r.peer, r.scenario): r for r in results}
    lines = ["| peer | scenario | timers | fired/s | lateness p50 ms | p99 ms | max ms | peak RSS MB | duplicates | note |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in results:
        lines.append(f"| {r.peer} | {r.scenario} | {r.timers} | {r.fired_per_s:.0f} | {r.pct(0.5):.1f} | {r.pct(0.99):.1f} | "
                     f"{max(r.lateness_ms, default=float('nan')):.1f} | {r.peak_rss_mb:.0f} | {r.duplicates} | {r.note.strip()} |")
    lines += ["", "Ratios bookflow / peer (fired/s: higher is better for bookflow; p99 lateness and RSS: lower is better):", ""]
    for (peer, scenario), r in by.items():
        mine = by.get(("bookflow", scenario))
        if peer == "bookflow" or mine is None or not r.lateness_ms:
            continue  # a peer that was not run has nothing to compare
        lines.append(f"- {scenario} vs {peer}: fired/s x{mine.fired_per_s / max(r.fired_per_s, 1e-9):.2f}, "
                     f"p99 lateness x{mine.pct(0.99) / max(r.pct(0.99), 1e-9):.2f}, peak RSS x{mine.peak_rss_mb / max(r.peak_rss_mb, 1e-9):.2f}")
    for peer in {r.peer for r in results}:
        small, big = by.get((peer, "burst")), by.get((peer, "burst-1M"))
        if small and big and small.fired_per_s and big.lateness_ms:
            lines.append(f"- {peer}: fired/s with 1M pending / with 10k pending = {big.fired_per_s / small.fired_per_s:.2f}")
    return "\n".join(lines)


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--peers", type=lambda s: s.split(","), default=list(PEERS))
    p.add_argument("--burst", type=int, default=50_000)
    p.add_argument("--rate", type=float, default=1000)
    p.add_argument("--seconds", type=float, default=20)
    p.add_argument("--lead", type=float, default=15)
    p.add_argument("--no-million", dest="million", action="store_false")
    p.add_argument("--dump", metavar="PREFIX", help="write each bookflow timer's instants to PREFIX-<peer>-<scenario>.csv")
    p.add_argument("--scenarios", type=lambda s: s.split(","), default=None, help="only these (burst,burst-1M,steady)")
    p.add_argument("--quick", action="store_true", help="small sizes, to check the harness")
    a = p.parse_args()
    if a.quick:
        a.burst, a.seconds, a.million = 5000, 5, False
    os.environ.setdefault("BOOKFLOW_NO_CONTAINERS", "1")
    res = asyncio.run(main(a))
    print()
    print(report(res))
