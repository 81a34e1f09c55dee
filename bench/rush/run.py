"""The 18:00 rush (issue 17): N day-before reminders due at one instant, through the whole chain.

All five services run as their real processes (`bookflow_devstack.processes.Stack`, as `bookflow
up` and the system tests start them) on a fresh local broker and the tests' PostgreSQL; the SMS
provider is the notification benchmark's fake 46elks on a real port (a process of its own). One
utility tenant has N work orders ready for execution whose reminders are pending for one instant
(seed.py: written straight into the tables), and K of them are cancelled through the booking API
in the seconds before it. Then: scheduler → `reminder.due` → booking → `notification.requests` →
notification → provider. Meanwhile Locust (load.py) keeps staff and customers at work at a fixed
rate.

It prints: time from the instant to the first and to the last SMS at the provider; SMS per second
end to end; p50/p99/max lateness (arrival at the provider minus the instant); duplicates, missing,
and sent for cancelled orders; CPU per SMS by service (and PostgreSQL, the broker, the fake, the
load); peak RSS per service; the HTTP load's p50/p99 during the rush and outside it. Then the
floor, in the same run: the scheduler benchmark's bookflow burst and the notification
benchmark's service run, each alone with N, and the end-to-end rate as a share of the slower.

    ./bookflow bench rush [-n 100000] [--cancel 100] [--rate 20] [--no-floor] [--no-load]
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import httpx
import psutil
from prometheus_client.parser import text_string_to_metric_families

from bookflow_contracts import topics
from bookflow_devstack import infra
from bookflow_devstack.processes import SERVICES, Stack
from bookflow_runtime import development
from bookflow_runtime.auth import sign_link
from bookflow_runtime.kafka import ensure_topics
from bookflow_runtime.migrations import upgrade

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))
import seed  # noqa: E402  (bench/rush is not a package)

OPERATOR = {"Authorization": f"Bearer {development.OPERATOR_TOKEN}"}
RUSH_TENANT, DESK_TENANT = "rush-utility", "rush-salon"


def _bench(name: str):
    """Another benchmark's run.py as a module: the floors use their code as it is."""
    spec = importlib.util.spec_from_file_location(f"bench_{name}", ROOT / "bench" / name / "run.py")
    module = sys.modules[spec.name] = importlib.util.module_from_spec(spec)  # its dataclasses look themselves up there
    sys.path.insert(0, str(ROOT / "bench" / name))
    spec.loader.exec_module(module)
    return module


NOTIFICATION = _bench("notification")


def pct(values: list[float], p: float) -> float:
    return NOTIFICATION.percentile(values, p) if values else float("nan")


# --- the system under test ---------------------------------------------------------------------


class Tree:
    """One service's process tree: its CPU seconds and resident memory."""

    def __init__(self, pid: int) -> None:
        self.root = psutil.Process(pid)
        self.peak_rss = 0

    def _all(self) -> list[psutil.Process]:
        with contextlib.suppress(psutil.Error):
            return [self.root, *self.root.children(recursive=True)]
        return []

    def cpu(self) -> float:
        total = 0.0
        for p in self._all():
            with contextlib.suppress(psutil.Error):
                t = p.cpu_times()
                total += t.user + t.system
        return total

    def sample_rss(self) -> None:
        rss = 0
        for p in self._all():
            with contextlib.suppress(psutil.Error):
                rss += p.memory_info().rss
        self.peak_rss = max(self.peak_rss, rss)


async def _put(client: httpx.AsyncClient, url: str, body: dict, headers: dict) -> dict:
    answer = await client.put(url, json=body, headers=headers)
    if answer.status_code != 200:
        sys.exit(f"PUT {url}: {answer.status_code} {answer.text}")
    return answer.json()


async def set_up_tenants(stack: Stack, fake_url: str, reminder_at: str) -> tuple[dict, dict]:
    """The utility (letter flow, its SMS provider the fake) and a salon (confirmation flow) whose
    customers confirm on My pages during the rush; their staff headers."""
    booking, notification = stack.services["booking"].url, stack.services["notification"].url
    async with httpx.AsyncClient(timeout=30) as client:
        made = {
            RUSH_TENANT: await _put(client, f"{booking}/tenants/{RUSH_TENANT}", {
                "name": "Elnätet", "time_zone": "Europe/Stockholm", "language": "sv", "flow": "letter", "reply_number": "+46700000000",
                "appointment_reminder_at": reminder_at}, OPERATOR),
            DESK_TENANT: await _put(client, f"{booking}/tenants/{DESK_TENANT}", {
                "name": "Salongen", "time_zone": "Europe/Stockholm", "language": "sv", "flow": "confirmation"}, OPERATOR),
        }
        headers = {t: {"Authorization": f"Bearer {answer['staff_token']}"} for t, answer in made.items()}
        settings = f"{notification}/tenants/{RUSH_TENANT}/notification-settings"
        for _ in range(300):  # the notification service learns of the tenant from `tenant.updated`
            if (await client.get(settings, headers=headers[RUSH_TENANT])).status_code == 200:
                break
            await asyncio.sleep(0.1)
        account = {"provider": "46elks", "base_url": fake_url, "username": "bench", "password": "bench", "sender": "+46766860000",
                   "webhook_secret": "bench-secret-0123456789"}
        await _put(client, settings, {"sms_providers": [account], "quiet_hours_start": "00:00", "quiet_hours_end": "00:00"},
                   headers[RUSH_TENANT])
    return headers[RUSH_TENANT], headers[DESK_TENANT]


async def my_pages_links(stack: Stack, headers: dict, n: int) -> list[str]:
    """N salon bookings waiting for their customers' confirmation, as My pages tokens."""
    url = f"{stack.services['booking'].url}/tenants/{DESK_TENANT}/bookings"
    slots = asyncio.Semaphore(8)

    async def book(client: httpx.AsyncClient, i: int) -> str:
        start = datetime.now(UTC) + timedelta(days=5, minutes=30 * i)
        async with slots:
            answer = await client.post(url, headers=headers, json={
                "customer": {"name": f"Kund {i}", "phone": f"+4672{i:07d}", "language": "sv"}, "service": "klippning",
                "starts_at": start.isoformat(), "ends_at": (start + timedelta(minutes=30)).isoformat()})
        answer.raise_for_status()
        return sign_link(development.LINK_SECRET, "my-pages", {"t": DESK_TENANT, "b": answer.json()["id"]})

    async with httpx.AsyncClient(timeout=30) as client:
        return await asyncio.gather(*(book(client, i) for i in range(n)))


async def cancel_some(stack: Stack, headers: dict, booking_ids: list[uuid.UUID], k: int) -> dict[int, float]:
    """Cancel every (N/k)-th order through the booking API; when each cancellation was answered, by index."""
    step = max(1, len(booking_ids) // max(k, 1))
    done = {}
    async with httpx.AsyncClient(base_url=f"{stack.services['booking'].url}/tenants/{RUSH_TENANT}", timeout=30) as client:
        for i in list(range(0, len(booking_ids), step))[:k]:
            answer = await client.post(f"/bookings/{booking_ids[i]}/transitions/cancel", json={"reason": "moved"}, headers=headers)
            answer.raise_for_status()
            done[i] = time.time()
    return done


async def profile(stack: Stack, names: list[str], instant: float, work: Path) -> list[subprocess.Popen]:
    """py-spy on the named services from the instant for `PROFILE_SECONDS`: collapsed stacks in
    <work>/<service>.txt (`--profile booking,notification`)."""
    await asyncio.sleep(max(0.0, instant - time.time()))
    return [subprocess.Popen([str(Path(sys.executable).parent / "py-spy"), "record", "--pid", str(stack.services[name].proc.pid), "--subprocesses", "--nonblocking",
                              "--format", "raw", "--rate", "50", "--duration", str(PROFILE_SECONDS), "--output", str(work / f"{name}.txt")],
                             stdout=subprocess.DEVNULL, stderr=open(work / f"py-spy-{name}.log", "wb"))  # noqa: SIM115
            for name in names]


PROFILE_SECONDS = 30


def start_load(stack: Stack, config: dict, rate: float, work: Path) -> subprocess.Popen:
    (work / "load.json").write_text(json.dumps(config))
    return subprocess.Popen([sys.executable, str(HERE / "load.py"), str(work / "load.json"), "--out", str(work / "requests.csv"),
                             "--rate", str(rate)], stdout=open(work / "load.log", "wb"), stderr=subprocess.STDOUT)  # noqa: SIM115


def helpers(kafka: infra.Kafka, pg_data: Path | None, work: Path) -> dict[str, int]:
    """The pids of what shares the machine with the services in this run: our broker, our
    PostgreSQL (its postmaster: backends are its children), the fake provider, the load."""
    pids = {"broker": int(re.search(r"pid (\d+)", kafka.origin).group(1))}
    if pg_data is not None and (pg_data / "postmaster.pid").exists():
        pids["postgres"] = int((pg_data / "postmaster.pid").read_text().split()[0])
    for p in psutil.process_iter(["cmdline"]):
        cmdline = " ".join(p.info["cmdline"] or [])
        if "fake_provider.py" in cmdline and p.pid in {c.pid for c in psutil.Process().children()}:
            pids["fake provider"] = p.pid
        elif str(work / "load.json") in cmdline:
            pids["load (locust)"] = p.pid
    return pids


IDLE_SECONDS = 5
LAG_BUCKETS = (0.01, 0.05, 0.1, 0.25)


async def loop_lag(url: str) -> dict[float, float]:
    """The service's `bookflow_event_loop_lag_seconds` histogram: probes counted by bucket bound (and +Inf)."""
    async with httpx.AsyncClient(timeout=10) as client:
        text = (await client.get(f"{url}/metrics")).text
    counts = {}
    for family in text_string_to_metric_families(text):
        if family.name == "bookflow_event_loop_lag_seconds":
            counts = {float(s.labels["le"]): s.value for s in family.samples if s.name.endswith("_bucket")}
    return counts


def _minus(after: dict[float, float], before: dict[float, float]) -> dict[float, float]:
    return {le: n - before.get(le, 0.0) for le, n in after.items()}


async def watch(stack: Stack, fake: httpx.AsyncClient, expected: int, instant: float, timeout: float, others: dict[str, int]) -> dict:
    """From a second before the instant until every expected SMS arrived (or `timeout` after the
    instant, or nothing new for 30 s once the count is reached): CPU and peak RSS per service."""
    trees = {name: Tree(svc.proc.pid) for name, svc in stack.services.items()}
    helping = {role: Tree(pid) for role, pid in others.items()}
    every = {**trees, **helping}
    idle_from, idle_cpu = time.time(), {n: t.cpu() for n, t in every.items()}
    await asyncio.sleep(IDLE_SECONDS)  # what each uses with nothing to do (polls, heartbeats), to tell it from the rush's work
    idle = {n: (t.cpu() - idle_cpu[n]) / (time.time() - idle_from) for n, t in every.items()}
    await asyncio.sleep(max(0.0, instant - 1 - time.time()))
    lag_before = {name: await loop_lag(svc.url) for name, svc in stack.services.items()}
    cpu_before, others_before = {n: t.cpu() for n, t in trees.items()}, {r: t.cpu() for r, t in helping.items()}
    load_before, window_from = os.getloadavg()[0], time.time()
    count, last_change, last_count = 0, time.time(), -1
    while time.time() < instant + timeout:
        for tree in trees.values():
            tree.sample_rss()
        count = (await fake.get("/count")).json()
        if count != last_count:
            last_change, last_count = time.time(), count
        if count >= expected and time.time() - last_change > 3:  # a few seconds more: a duplicate would show
            break
        await asyncio.sleep(0.5)
    window = time.time() - window_from
    lag = {name: _minus(await loop_lag(svc.url), lag_before[name]) for name, svc in stack.services.items()}
    return {"lag": lag, "cpu": {n: t.cpu() - cpu_before[n] for n, t in trees.items()},
            "others": {r: t.cpu() - others_before[r] for r, t in helping.items()},
            "idle": {n: rate * window for n, rate in idle.items()},
            "load average": (load_before, os.getloadavg()[0]),
            "rss_mb": {n: t.peak_rss / 2**20 for n, t in trees.items()}}


def http_latencies(path: Path, rush: tuple[float, float]) -> dict[str, dict[str, list[float]]]:
    """Each request's milliseconds by name, during the rush (instant to last SMS) and outside it."""
    out: dict[str, dict[str, list[float]]] = {}
    failed: dict[str, int] = {}
    for line in path.read_text().splitlines() if path.exists() else []:
        start, name, ms, ok = line.split(",")
        when = "during" if rush[0] <= float(start) <= rush[1] else "outside"
        out.setdefault(name, {"during": [], "outside": []})[when].append(float(ms))
        if ok == "0":
            failed[name] = failed.get(name, 0) + 1
    for name, n in failed.items():
        out[name]["failed"] = [n]
    return out


async def rush(args: argparse.Namespace, kafka: infra.Kafka, pg: infra.Postgres, pg_data: Path | None, fake_url: str, work: Path) -> dict:
    await ensure_topics(kafka.bootstrap_servers, topics.ALL, partitions=args.partitions)
    quiet = {"BOOKFLOW_LOG_LEVEL": "WARNING", "BOOKFLOW_DEVELOPMENT": "1"}
    stack = Stack(kafka, pg, work / "logs", {name: infra.free_port() for name in SERVICES},
                  database_prefix=f"bench_rush_{uuid.uuid4().hex[:6]}_",
                  extra_env={name: {**quiet, **({"BOOKFLOW_NOTIFICATION_SMS_TEST_ADDRESSES": fake_url} if name == "notification" else {})}
                             for name in SERVICES})
    await asyncio.to_thread(stack.prepare, fresh=True)
    await asyncio.to_thread(stack.start)
    load = None
    try:
        instant_guess = datetime.now(seed.ZONE) + timedelta(minutes=10)
        rush_headers, desk_headers = await set_up_tenants(stack, fake_url, instant_guess.strftime("%H:%M:%S"))
        links = await my_pages_links(stack, desk_headers, args.links) if args.rate else []
        started = time.time()
        orders = await seed.orders(stack.services["booking"].env["BOOKFLOW_BOOKING_DATABASE_URL"], RUSH_TENANT, args.n,
                                   instant_guess)
        print(f"seeded {args.n:,} orders in {time.time() - started:.1f} s", flush=True)
        instant = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=args.lead)
        if instant.astimezone(seed.ZONE).date() != instant_guess.astimezone(seed.ZONE).date():
            sys.exit("the instant fell on another local day than the orders' eve: run again in a minute")
        await seed.timers(stack.services["scheduler"].env["BOOKFLOW_SCHEDULER_DATABASE_URL"], orders, instant)
        if args.rate:
            load = start_load(stack, {"booking_url": stack.services["booking"].url, "rush_tenant": RUSH_TENANT,
                                      "rush_headers": rush_headers, "desk_tenant": DESK_TENANT, "desk_headers": desk_headers,
                                      "technicians": [str(t) for t in orders.technician_ids[:200]], "day": orders.day,
                                      "links": links}, args.rate, work)
        async with httpx.AsyncClient(base_url=fake_url, timeout=30) as fake:
            await fake.post("/reset")
            watching = asyncio.create_task(watch(stack, fake, args.n - args.cancel, instant.timestamp(), args.timeout,
                                                 helpers(kafka, pg_data, work)))
            await asyncio.sleep(max(0.0, instant.timestamp() - args.cancel_before - time.time()))
            cancelled = await cancel_some(stack, rush_headers, orders.booking_ids, args.cancel)
            profiles = await profile(stack, args.profile, instant.timestamp(), work)
            late = sum(at > instant.timestamp() for at in cancelled.values())
            if late:
                print(f"warning: {late} cancellations were answered after the instant (not counted as cancelled before it)", flush=True)
            used = await watching
            for proc in profiles:
                proc.wait(120)
            arrivals = (await fake.get("/arrivals")).json()
        if load is not None:
            await asyncio.sleep(args.after)  # outside the rush again
    finally:
        if load is not None:
            load.terminate()
            load.wait(30)
        stack.stop()
        await asyncio.to_thread(stack.drop_databases)
    before = {i for i, at in cancelled.items() if at < instant.timestamp()}
    return {"instant": instant.timestamp(), "arrivals": arrivals, "cancelled": before, "cancelled late": set(cancelled) - before,
            "used": used, "n": args.n,
            "requests": work / "requests.csv"}


# --- the floor ---------------------------------------------------------------------------------


async def scheduler_floor(n: int, pg: infra.Postgres) -> float:
    """bench/scheduler's bookflow burst: N timers due at one instant, fired onto `reminder.due`."""
    scheduler = _bench("scheduler")
    kafka = infra.start_tansu()
    try:
        await ensure_topics(kafka.bootstrap_servers, topics.ALL, partitions=4)
        return (await scheduler.run_one("bookflow", "burst", [0.0] * n, 0, 15.0, kafka, pg)).fired_per_s
    finally:
        kafka.stop()


async def notification_floor(n: int, pg: infra.Postgres, fake_url: str) -> float:
    """bench/notification's service run (one worker process, as in the rush): N requests to SMS at the fake."""
    kafka = infra.start_tansu()
    db = f"bench_rush_floor_{uuid.uuid4().hex[:6]}"
    try:
        await ensure_topics(kafka.bootstrap_servers, topics.ALL, partitions=4)
        url = await asyncio.to_thread(pg.create_database, db, fresh=True)
        await asyncio.to_thread(upgrade, ROOT / "services" / "notification" / "migrations", url)
        result = await NOTIFICATION.run_service(SimpleNamespace(batch=200, timeout=600), 1, kafka.bootstrap_servers, url, fake_url,
                                                NOTIFICATION.requests(n))
        return result["rates"]["sent"]
    finally:
        kafka.stop()
        await asyncio.to_thread(pg.drop_database, db)


# --- the report --------------------------------------------------------------------------------


def report(result: dict) -> float:
    """Print the rush's figures; its end-to-end rate."""
    instant, n, cancelled = result["instant"], result["n"], result["cancelled"]
    arrivals = result["arrivals"]
    seen: dict[int, float] = {}
    duplicates = 0
    for index, at in arrivals:
        if index in seen:
            duplicates += 1
        else:
            seen[index] = at
    expected = set(range(n)) - cancelled - result["cancelled late"]  # a cancellation after the instant may come too late
    missing = len(expected - set(seen))
    wrongly = len(cancelled & set(seen))
    lateness = [(at - instant) * 1000 for i, at in seen.items() if i in expected]
    first, last = (min(seen.values()) - instant, max(seen.values()) - instant) if seen else (float("nan"),) * 2
    rate = len(seen) / last if seen and last > 0 else 0.0
    print(f"\nrush: {n:,} day-before reminders due at one instant, {len(cancelled)} orders cancelled in the seconds before it"
          + (f" ({len(result['cancelled late'])} more after it, not counted)" if result["cancelled late"] else ""))
    print(f"  first SMS at the provider  {first:8.2f} s after the instant   target <= 1 s")
    print(f"  last SMS at the provider   {last:8.2f} s after the instant   target <= 90 s")
    print(f"  end to end                 {rate:8.0f} SMS/s")
    print(f"  lateness                   p50 {pct(lateness, 50) / 1000:.2f} s   p99 {pct(lateness, 99) / 1000:.2f} s   "
          f"max {max(lateness, default=float('nan')) / 1000:.2f} s")
    print(f"  duplicates {duplicates}   missing {missing}   sent for a cancelled order {wrongly}   (targets: 0, 0, 0)")
    used = result["used"]
    sent = max(len(seen), 1)
    cpu = {**used["cpu"], **used["others"]}
    print("  CPU per SMS, instant to last SMS (and net of what each uses idle):")
    print("    " + ", ".join(f"{name} {s / sent * 1e6:.0f} ({(s - used['idle'][name]) / sent * 1e6:.0f}) us" for name, s in cpu.items()))
    print(f"    all of these {sum(cpu.values()) / sent * 1e6:.0f} ({sum(s - used['idle'][n] for n, s in cpu.items()) / sent * 1e6:.0f}) us")
    print(f"  load average of the machine: {used['load average'][0]:.1f} at the instant, {used['load average'][1]:.1f} at the end")
    print("  peak RSS: " + ", ".join(f"{name} {mb:.0f} MiB" for name, mb in used["rss_mb"].items()))
    print("  event loop lag (a 100 ms sleep woken late), share of probes later than " + " / ".join(f"{b * 1000:g}" for b in LAG_BUCKETS) + " ms:")
    print("    " + ", ".join(f"{name} " + " / ".join(f"{_share_over(counts, b):.0%}" for b in LAG_BUCKETS)
                            for name, counts in used["lag"].items() if counts))
    rush_window = (instant, instant + (last if seen else 0))
    latencies = http_latencies(result["requests"], rush_window)
    if latencies:
        print("  HTTP load (Locust, fixed rate)      during the rush: n p50 p99 ms     outside it: n p50 p99 ms    failed")
        for name, by in sorted(latencies.items()):
            d, o = by["during"], by["outside"]
            print(f"    {name:<20} {len(d):6d} {pct(d, 50):6.0f} {pct(d, 99):6.0f}        {len(o):6d} {pct(o, 50):6.0f} {pct(o, 99):6.0f}"
                  f"    {by.get('failed', [0])[0]}", flush=True)
    return rate


def _share_over(counts: dict[float, float], bound: float) -> float:
    total = counts.get(float("inf"), 0.0)
    return (total - counts.get(bound, 0.0)) / total if total else float("nan")


def report_floor(rate: float, floors: dict[str, float]) -> None:
    slower = min(floors.values())
    print(f"floor (each service alone, same machine, same N): scheduler {floors['scheduler']:.0f} timers/s, "
          f"notification {floors['notification']:.0f} SMS/s")
    print(f"  end to end / slower single service  {rate / slower:.2f}   target >= 0.6", flush=True)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", type=int, default=100_000, help="work orders whose reminders fall due at the instant")
    parser.add_argument("--cancel", type=int, default=100, help="orders cancelled in the seconds before the instant")
    parser.add_argument("--cancel-before", type=float, default=20, help="seconds before the instant the cancelling starts (after the idle sample)")
    parser.add_argument("--lead", type=float, default=40, help="seconds from writing the timers to the instant")
    parser.add_argument("--rate", type=float, default=20, help="staff and customer requests per second (0: no load)")
    parser.add_argument("--links", type=int, default=600, help="salon bookings for customers to confirm during the run")
    parser.add_argument("--after", type=float, default=15, help="seconds of load after the rush (outside it)")
    parser.add_argument("--partitions", type=int, default=4, help="partitions per topic")
    parser.add_argument("--timeout", type=float, default=600, help="seconds after the instant to wait for the last SMS")
    parser.add_argument("--system-postgres", action="store_true", help="the tests' PostgreSQL instead of an embedded one")
    parser.add_argument("--profile", type=lambda v: [n for n in v.split(",") if n], default=[],
                        help="services to profile with py-spy from the instant, such as booking,notification")
    parser.add_argument("--no-floor", dest="floor", action="store_false", help="skip the single-service floors")
    args = parser.parse_args()
    os.environ.setdefault("BOOKFLOW_NO_CONTAINERS", "1")
    work = Path(tempfile.mkdtemp(prefix="bench-rush-"))
    kafka = infra.start_tansu()
    pg_data = None if args.system_postgres else work / "pgdata"  # a server of our own, so that its CPU is ours to count
    pg = await asyncio.to_thread(infra.postgres_for_tests, work) if pg_data is None else await asyncio.to_thread(
        infra.start_embedded_postgres, pg_data)
    fake_port = infra.free_port()
    fake = subprocess.Popen([sys.executable, str(ROOT / "bench" / "notification" / "fake_provider.py"), str(fake_port)])
    fake_url = f"http://127.0.0.1:{fake_port}"
    print(f"rush benchmark: {args.n:,} orders, {os.cpu_count()} cores, load {args.rate:g} requests/s; logs in {work}", flush=True)
    try:
        await NOTIFICATION.wait_ready(f"{fake_url}/count", fake)
        result = await rush(args, kafka, pg, pg_data, fake_url, work)
        kafka.stop()  # the floors have brokers of their own
        rate = report(result)  # now: the floors take minutes more
        if args.floor:
            floors = {"scheduler": await scheduler_floor(args.n, pg), "notification": await notification_floor(args.n, pg, fake_url)}
            report_floor(rate, floors)
    finally:
        fake.terminate()
        fake.wait(10)
        kafka.stop()
        pg.stop()


if __name__ == "__main__":
    asyncio.run(main())
