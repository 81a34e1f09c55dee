"""The recall benchmark: one daily evaluation over 100,000 customers with active recalls and
1,000,000 bookings of history, against the same decisions computed by one plain SQL query.

The harness loads a fresh database (the recall service's own schema, by its migrations) with one
dental clinic: five templates of two or three steps with every criterion and action kind, one
active recall per customer whose next step is due today (the worst day: every recall at once),
and ten bookings per customer over two years and the coming two months in every state. Then:

- floor: one SELECT computes, for every due recall, the step's outcome and criterion (the same
  rules as bookflow_recall.domain.recall) and returns them all;
- bookflow: `bench/recall/evaluate.py` in its own process runs one round of the service's
  evaluation loop (RecallEvaluation: claims in batches with SKIP LOCKED, facts in one statement
  per batch, decisions, step runs, actions, markers, outbox messages, recall moves) and reports
  its wall time and peak RSS (ru_maxrss of the process);
- the decisions bookflow recorded are compared with the floor's, row by row.

    python bench/recall/run.py                     # 100,000 recalls, 1,000,000 bookings
    python bench/recall/run.py --customers 10000   # a quick look
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import asyncpg
import psutil

from bookflow_devstack import infra
from bookflow_recall import MIGRATIONS
from bookflow_runtime.migrations import upgrade

HERE = Path(__file__).resolve().parent
TENANT = "bench-clinic"
ZONE = "Europe/Copenhagen"
NOW = datetime(2027, 3, 10, 9, 30, tzinfo=UTC)
"""The instant of the daily run (fixed, so that every run decides the same)."""


def step(after_days: int, actions: list[dict], **criteria: str) -> dict:
    return {"after_days": after_days, "actions": actions,
            "rules": [{"when": w.replace("_", "-"), "end_course": how == "end"} for w, how in criteria.items()]}


def send(channel: str, approval: str = "automatic") -> dict:
    return {"kind": "send", "channel": channel, "template_key": "recall", "approval": approval, "fallback": None, "marker": None}


def auto_book(fallback: str, marker: str | None = None) -> dict:
    return {"kind": "auto-book", "channel": None, "template_key": "recall", "approval": "automatic", "fallback": fallback, "marker": marker}


def listed(marker: str) -> dict:
    return {"kind": "recall-list", "channel": None, "template_key": "recall", "approval": "automatic", "fallback": None, "marker": marker}


TEMPLATES = [
    # (service, tolerance days, steps)
    ("kontrol", 90, [step(0, [send("letter")], future="end", completed="end"),
                     step(14, [send("sms")], none="act", no_show="act", future="end"),
                     step(30, [listed("Ring op")], future="end", deleted="act", none="act")]),
    ("tandrens", 30, [step(0, [auto_book("sms")], future="end"),
                      step(10, [send("email"), listed("Ingen svar")], none="act", completed="end")]),
    ("roentgen", 0, [step(0, [send("sms", "staff")]),
                     step(7, [auto_book("recall-list", "Ingen tid")], no_show="act", deleted="act", future="end")]),
    ("blegning", 60, [step(0, [send("email")], none="act", completed="end"),
                      step(21, [send("letter")], deleted="act", no_show="end")]),
    ("implantat", 180, [step(0, [listed("Kirurg")], future="end"),
                        step(5, [auto_book("letter")], none="act", no_show="act")]),
]


async def load(dsn: str, customers: int, bookings_each: int) -> None:
    """The clinic, its templates, one recall per customer due today, the bookings (server-side,
    deterministic: `setseed`)."""
    today = NOW.astimezone(ZoneInfo(ZONE)).date()
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("SELECT setseed(0.42)")
        await conn.execute("INSERT INTO tenants VALUES ($1, 'Tandklinikken', $2, 'da', $3)", TENANT, ZONE, NOW)
        await conn.execute("INSERT INTO recall_settings VALUES ($1, true, true, 0, interval '1 day', NULL, $2)", TENANT, NOW)
        ids = []
        for i, (service, tolerance, steps) in enumerate(TEMPLATES):
            template_id = uuid.uuid5(uuid.NAMESPACE_URL, f"bench-template-{i}")
            ids.append(template_id)
            await conn.execute(
                "INSERT INTO recall_templates VALUES ($1, $2, $3, $4, $5, 6, 'months', NULL, $6, $7::jsonb, $8, $8, NULL)",
                template_id, TENANT, f"Genindkald {service}", service, tolerance, [f"A-{i}"], json.dumps(steps), NOW)
        await conn.execute(
            "INSERT INTO customers (tenant_id, customer_id, name, phone, email, language, contact_at, marketing_consent, consent_at)"
            " SELECT $1, md5('customer' || i)::uuid, 'Patient ' || i, '+4520' || lpad(i::text, 6, '0'), 'p' || i || '@example.dk',"
            " 'da', $2, true, $2 FROM generate_series(1, $3) AS i", TENANT, NOW - timedelta(days=800), customers)
        # One recall per customer on template i % 5, at a random step of it, due today or up to two days ago.
        await conn.execute("CREATE TEMP TABLE bench_steps (template int, position int, after_days int, before_days int)")
        for t, (_, _, steps) in enumerate(TEMPLATES):
            for p, s in enumerate(steps):
                await conn.execute("INSERT INTO bench_steps VALUES ($1, $2, $3, $4)", t, p, s["after_days"],
                                   steps[p - 1]["after_days"] if p else None)
        await conn.execute(
            "INSERT INTO customer_recalls (id, tenant_id, customer_id, template_id, recall_date, course, courses_done, last_step_days,"
            " next_step_day, status, date_set_at, created_at, created_by, updated_at)"
            " SELECT md5('recall' || c.i)::uuid, $1, md5('customer' || c.i)::uuid, ($2::uuid[])[c.i % 5 + 1],"
            "  $3::date - c.late - s.after_days, 1, 0, s.before_days, $3::date - c.late, 'active', $4, $4, 'staff:bench', $4"
            " FROM (SELECT i, floor(random() * 3)::int AS late, random() AS pick FROM generate_series(1, $5) AS i) AS c"
            " JOIN LATERAL (SELECT * FROM bench_steps WHERE template = c.i % 5"
            "   ORDER BY position OFFSET floor(c.pick * (SELECT count(*) FROM bench_steps WHERE template = c.i % 5)) LIMIT 1) AS s ON true",
            TENANT, ids, today, NOW - timedelta(days=1), customers)
        # Bookings: over the last two years and the coming two months, of the five services and a
        # few others, in every state (future ones still on).
        await conn.execute(
            "INSERT INTO booking_history (booking_id, tenant_id, customer_id, service, starts_at, ends_at, state, version, source,"
            " booked_at, updated_at)"
            " SELECT md5('booking' || c || '-' || n)::uuid, $1, md5('customer' || c)::uuid,"
            "  (ARRAY['kontrol','tandrens','roentgen','blegning','implantat','konsultation','akut'])[1 + floor(r1 * 7)::int],"
            "  $2::timestamptz - (r2 * 790 - 60) * interval '1 day', $2::timestamptz - (r2 * 790 - 60) * interval '1 day' + interval '1 hour',"
            "  CASE WHEN r2 * 790 - 60 < 0 THEN (ARRAY['booked','confirmed','cancelled'])[1 + floor(r3 * 3)::int]"
            "  ELSE (ARRAY['completed','completed','completed','completed','no-show','deleted','cancelled'])[1 + floor(r3 * 7)::int] END,"
            "  1, 'staff', $2::timestamptz - (r2 * 790 - 40) * interval '1 day', $2"
            " FROM (SELECT c, n, random() AS r1, random() AS r2, random() AS r3"
            "       FROM generate_series(1, $3) AS c, generate_series(1, $4) AS n) AS x",
            TENANT, NOW, customers, bookings_each)
        await conn.execute("VACUUM ANALYZE")  # as autovacuum leaves a table that mostly grows
    finally:
        await conn.close()


FLOOR = """
WITH due AS (
  SELECT r.id, r.customer_id, r.recall_date, t.service, t.tolerance_days, s.run_offset_days,
         (SELECT st FROM jsonb_array_elements(t.steps) AS st WHERE (st->>'after_days')::int = r.next_step_day - r.recall_date) AS step,
         (r.recall_date - t.tolerance_days)::timestamp AT TIME ZONE z.time_zone AS tol_from,
         r.recall_date::timestamp AT TIME ZONE z.time_zone AS tol_until,
         (r.recall_date - greatest(t.tolerance_days, s.run_offset_days))::timestamp AT TIME ZONE z.time_zone AS win_from
  FROM customer_recalls r
  JOIN recall_templates t ON t.id = r.template_id
  JOIN recall_settings s ON s.tenant_id = r.tenant_id
  JOIN tenants z ON z.tenant_id = r.tenant_id
  WHERE r.tenant_id = $1 AND r.status = 'active' AND s.enabled
    AND r.next_step_day <= ($2::timestamptz AT TIME ZONE z.time_zone)::date + s.run_offset_days
), facts AS (
  SELECT d.id, d.step,
    coalesce(bool_or(b.state = 'completed' AND b.starts_at >= d.tol_from AND b.starts_at < d.tol_until), false) AS tolerance,
    coalesce(bool_or(b.state = 'completed' AND b.starts_at >= d.win_from), false) AS completed,
    coalesce(bool_or(b.starts_at > $2 AND b.state NOT IN ('cancelled', 'completed', 'no-show', 'deleted')), false) AS future,
    coalesce(bool_or(b.state = 'no-show' AND b.starts_at >= d.win_from), false) AS no_show,
    coalesce((array_agg(b.state ORDER BY b.starts_at DESC) FILTER (WHERE b.starts_at >= d.win_from))[1] IN ('deleted', 'cancelled'), false)
      AS deleted,
    count(b.booking_id) FILTER (WHERE b.starts_at >= d.win_from) > 0 AS any_in_window
  FROM due d
  LEFT JOIN booking_history b ON b.tenant_id = $1 AND b.customer_id = d.customer_id AND b.service = d.service
  GROUP BY d.id, d.step
), matched AS (
  SELECT f.*, ARRAY_REMOVE(ARRAY[
      CASE WHEN f.completed THEN 'completed' END, CASE WHEN f.future THEN 'future' END, CASE WHEN f.no_show THEN 'no-show' END,
      CASE WHEN f.deleted THEN 'deleted' END, CASE WHEN NOT f.any_in_window AND NOT f.future THEN 'none' END], NULL) AS found
  FROM facts f
)
SELECT m.id,
  CASE WHEN m.tolerance THEN 'skipped'
       WHEN e.criterion IS NOT NULL THEN 'ended'
       WHEN jsonb_array_length(m.step->'rules') = 0 OR a.criterion IS NOT NULL THEN 'acted'
       ELSE 'passed' END AS outcome,
  CASE WHEN m.tolerance THEN 'completed' ELSE coalesce(e.criterion, a.criterion) END AS criterion
FROM matched m
LEFT JOIN LATERAL (SELECT r->>'when' AS criterion FROM jsonb_array_elements(m.step->'rules') WITH ORDINALITY AS x(r, o)
                   WHERE (r->>'end_course')::boolean AND r->>'when' = ANY(m.found) ORDER BY o LIMIT 1) e ON true
LEFT JOIN LATERAL (SELECT r->>'when' AS criterion FROM jsonb_array_elements(m.step->'rules') WITH ORDINALITY AS x(r, o)
                   WHERE NOT (r->>'end_course')::boolean AND r->>'when' = ANY(m.found) ORDER BY o LIMIT 1) a ON true
"""


async def floor(dsn: str) -> tuple[float, dict[uuid.UUID, tuple[str, str | None]]]:
    conn = await asyncpg.connect(dsn)
    try:
        started = time.perf_counter()
        rows = await conn.fetch(FLOOR, TENANT, NOW)
        return time.perf_counter() - started, {r["id"]: (r["outcome"], r["criterion"]) for r in rows}
    finally:
        await conn.close()


async def recorded(dsn: str) -> tuple[dict[uuid.UUID, tuple[str, str | None]], dict[str, int], int]:
    conn = await asyncpg.connect(dsn)
    try:
        runs = {r["recall_id"]: (r["outcome"], r["criterion"]) for r in await conn.fetch(
            "SELECT recall_id, outcome, criterion FROM recall_step_runs WHERE tenant_id = $1", TENANT)}
        actions = {r["kind"]: r["n"] for r in await conn.fetch(
            "SELECT kind || CASE WHEN state = 'awaiting-approval' THEN ' (awaiting approval)' ELSE '' END AS kind, count(*) AS n"
            " FROM recall_actions WHERE tenant_id = $1 GROUP BY 1", TENANT)}
        messages = await conn.fetchval("SELECT count(*) FROM outbox")
        return runs, actions, messages
    finally:
        await conn.close()


def postgres_cpu(data_dir: Path | None) -> float:
    """CPU seconds the benchmark's own PostgreSQL server has used so far (its postmaster, reaped
    backends and live ones)."""
    if data_dir is None:
        return float("nan")
    total = 0.0
    for proc in psutil.process_iter(["cmdline"]):
        if str(data_dir) in " ".join(proc.info["cmdline"] or ()) and "postgres" in " ".join(proc.info["cmdline"] or ()):
            try:
                t = proc.cpu_times()
                total += t.user + t.system + t.children_user + t.children_system
                total += sum(c.cpu_times().user + c.cpu_times().system for c in proc.children())
            except psutil.Error:
                pass
            break
    return total


def evaluate(url: str, batch: int, processes: int) -> dict:
    """Run the round in `processes` processes at once (replicas: they share the work through
    SKIP LOCKED) and combine their reports: wall time of the slowest, steps of all, CPU of all,
    the largest peak RSS of one process."""
    script = os.environ.get("BENCH_EVALUATE_SCRIPT", str(HERE / "evaluate.py"))  # a profiling wrapper, say
    running = [subprocess.Popen([sys.executable, script, url, NOW.isoformat(), str(batch)], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, env={**os.environ, "BOOKFLOW_LOG_LEVEL": "WARNING"})
               for _ in range(processes)]
    reports = []
    for proc in running:
        out, err = proc.communicate()
        if proc.returncode != 0:
            raise SystemExit(f"evaluate.py failed:\n{err[-4000:]}")
        if err.strip():
            print(err.strip()[-2000:], file=sys.stderr)
        reports.append(json.loads(out.strip().splitlines()[-1]))
    return {"seconds": max(r["ended_at"] for r in reports) - min(r["started_at"] for r in reports),
            "steps": sum(r["steps"] for r in reports), "peak_rss_mb": max(r["peak_rss_mb"] for r in reports),
            "cpu_seconds": sum(r["cpu_seconds"] for r in reports)}


async def main(args: argparse.Namespace) -> None:
    data_dir = None
    if args.system_postgres:
        pg = await asyncio.to_thread(infra.postgres_for_tests, Path(tempfile.mkdtemp(prefix="bench-pg-")))
    else:  # its own server, so that its CPU is the benchmark's alone
        data_dir = Path(tempfile.mkdtemp(prefix="bench-recall-pg-")) / "pgdata"
        pg = await asyncio.to_thread(infra.start_embedded_postgres, data_dir)
    name = f"bench_recall_{uuid.uuid4().hex[:6]}"
    url = await asyncio.to_thread(pg.create_database, name, fresh=True)
    dsn = pg.url(name, "postgresql")
    try:
        await asyncio.to_thread(upgrade, MIGRATIONS, url)
        started = time.perf_counter()
        await load(dsn, args.customers, args.bookings_per_customer)
        print(f"loaded {args.customers:,} recalls and {args.customers * args.bookings_per_customer:,} bookings "
              f"in {time.perf_counter() - started:.1f} s ({pg.origin})", flush=True)
        pg_before = postgres_cpu(data_dir)
        floor_seconds, expected = await floor(dsn)
        print(f"floor (one SQL query): {len(expected):,} decisions in {floor_seconds:.2f} s; CPU: PostgreSQL "
              f"{postgres_cpu(data_dir) - pg_before:.2f} s", flush=True)
        pg_before = postgres_cpu(data_dir)
        result = evaluate(url, args.batch, args.processes)
        pg_used = postgres_cpu(data_dir) - pg_before
        print(f"bookflow (one round of the evaluation loop, {args.processes} process(es)): {result['steps']:,} steps decided and written in "
              f"{result['seconds']:.2f} s, peak RSS {result['peak_rss_mb']:.0f} MB; CPU: evaluation {result['cpu_seconds']:.2f} s, "
              f"PostgreSQL {pg_used:.2f} s", flush=True)
        runs, actions, messages = await recorded(dsn)
        differing = [i for i in expected if runs.get(i) != expected[i]]
        outcomes: dict[str, int] = {}
        for outcome, _ in runs.values():
            outcomes[outcome] = outcomes.get(outcome, 0) + 1
        print(f"outcomes: {outcomes}")
        print(f"actions written: {actions}; outbox messages: {messages:,}")
        print(f"decisions equal to the floor's: {len(expected) - len(differing):,} of {len(expected):,}"
              + (f"; first differing: {[(str(i), runs.get(i), expected[i]) for i in differing[:3]]}" if differing else ""))
        print(f"bookflow / floor: x{result['seconds'] / floor_seconds:.1f} the time; "
              f"target 10 s: {'met' if result['seconds'] <= 10 else 'missed'}; "
              f"150 MB: {'met' if result['peak_rss_mb'] <= 150 else 'missed'}")
    finally:
        if not args.keep:
            await asyncio.to_thread(pg.drop_database, name)
        pg.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--bookings-per-customer", type=int, default=10)
    parser.add_argument("--batch", type=int, default=2000, help="steps claimed and decided per transaction")
    parser.add_argument("--processes", type=int, default=1, help="evaluation processes at once (replicas sharing the work)")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument("--system-postgres", action="store_true",
                        help="use the tests' PostgreSQL (system server) instead of an embedded one of its own (no CPU figure then)")
    asyncio.run(main(parser.parse_args()))
