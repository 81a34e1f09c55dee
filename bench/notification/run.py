"""The notification benchmark: requests through the real broker, the notification service as its
own process (once per worker count asked for), SMS to a fake 46elks on a real local port (another
process).

It publishes N `notification.requests` for one tenant whose provider is the fake, and watches
the service's database and the fake until every message is recorded as sent. It prints, from the
first publish: messages per second accepted (stored as queued), rendered (claimed, rendered,
`sending`), sent (arrived at the provider) and recorded (`sent` in the database); p50/p99 from
publishing a request to its provider call; CPU per SMS of the service and of the machine (and
who else used it); the service's peak RSS. Then it measures the floor in the same run: a bare
loop that consumes the same requests from a fresh topic and POSTs each to the same fake (no
database, no rendering), and prints the service's rate as a share of it. See README.md.

    python bench/notification/run.py [-n 20000] [--workers 1,2]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import asyncpg
import httpx
import psutil
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient

from bookflow_contracts import CustomerSnapshot, Envelope, SendNotification, TenantUpdated, encode, topics
from bookflow_devstack import infra
from bookflow_runtime import development
from bookflow_runtime.auth import issue_staff_token
from bookflow_runtime.kafka import ensure_topics
from bookflow_runtime.migrations import upgrade

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
TENANT = "bench"


def requests(n: int, topic: str | None = None) -> list[tuple[bytes, bytes, list]]:
    """N encoded request envelopes: (key, value, headers)."""
    out = []
    for i in range(n):
        booking_id = uuid.uuid4()
        request = SendNotification(
            idempotency_key=f"bench:{booking_id}", booking_id=booking_id, channels=["sms"], template_key="booking-notice",
            customer=CustomerSnapshot(customer_id=uuid.uuid4(), name="Åsa Öberg", phone=f"+4670{i:07d}", language="sv"),
            data={"service": f"bench-{i}", "starts_at": "2031-01-20T07:00:00+00:00", "booking_id": str(booking_id)},
        )
        env = Envelope.wrap(request, tenant_id=TENANT, occurred_at=datetime.now(UTC))
        out.append((env.key.encode(), encode(env), env.headers()))
    return out


async def publish(bootstrap: str, topic: str, records: list) -> list[float]:
    """Publish every record; the time each was handed to the producer."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=False, linger_ms=5, max_batch_size=256 * 1024)
    await producer.start()
    try:
        times, futures = [], []
        for key, value, headers in records:
            times.append(time.time())
            futures.append(await producer.send(topic, value, key=key, headers=headers))
        await asyncio.gather(*futures)
        return times
    finally:
        await producer.stop()


async def announce_tenant(bootstrap: str, client: httpx.AsyncClient) -> None:
    """Tell the service of the tenant as the booking service would (`tenant.updated`); requests of
    a tenant it has not heard of wait for that."""
    event = TenantUpdated(tenant_id=TENANT, name="Bench AB", time_zone="Europe/Stockholm", language="sv",
                          settings={"notification": {"quiet_hours_start": "00:00", "quiet_hours_end": "00:00"}})
    env = Envelope.wrap(event, tenant_id=TENANT, occurred_at=datetime.now(UTC))
    await publish(bootstrap, topics.TENANT_UPDATED, [(env.key.encode(), encode(env), env.headers())])
    for _ in range(200):
        if (await client.get(f"/tenants/{TENANT}/notification-settings")).json().get("time_zone"):
            return
        await asyncio.sleep(0.1)
    sys.exit("the service did not take in the tenant")


async def wait_ready(url: str, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient() as client:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                sys.exit(f"{url} exited with {proc.returncode}")
            try:
                if (await client.get(url)).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.1)
    sys.exit(f"{url} did not become ready")


def _cpu_seconds(proc: psutil.Process) -> float:
    """CPU time of the service's processes (its workers included)."""
    total = 0.0
    for p in [proc, *proc.children(recursive=True)]:
        with contextlib.suppress(psutil.NoSuchProcess):
            t = p.cpu_times()
            total += t.user + t.system
    return total


def _rss(proc: psutil.Process) -> int:
    """Resident memory of the service's processes (its workers included)."""
    total = 0
    for p in [proc, *proc.children(recursive=True)]:
        with contextlib.suppress(psutil.NoSuchProcess):
            total += p.memory_info().rss
    return total


async def wait_for_group(bootstrap: str, group: str, members: int, timeout: float = 60) -> None:
    """Until every worker's consumer has joined the group and holds partitions: a rebalance in
    the middle of the run would be measured as the service's slowness."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            (response,) = await admin.describe_consumer_groups([group])
            _, _, state, _, _, joined = response.groups[0]
            if state == "Stable" and len(joined) == members:
                return
            await asyncio.sleep(0.2)
        sys.exit(f"consumer group {group} did not settle with {members} members")
    finally:
        await admin.close()


def _cpu_by_role() -> dict[str, float]:
    """CPU seconds so far of what shares the machine with the service: PostgreSQL, the broker,
    the fake provider and this harness (its publishing and polling)."""
    roles: dict[str, float] = {}
    for p in psutil.process_iter(["name", "cmdline", "cpu_times"]):
        cmdline = " ".join(p.info["cmdline"] or [])
        role = ("postgres" if (p.info["name"] or "").startswith("postgres") else "broker" if "tansu" in cmdline
                else "fake provider" if "fake_provider.py" in cmdline else "harness" if p.pid == os.getpid() else None)
        if role and p.info["cpu_times"]:
            roles[role] = roles.get(role, 0.0) + p.info["cpu_times"].user + p.info["cpu_times"].system
    return roles


def _machine_busy_seconds() -> float:
    t = psutil.cpu_times()
    return t.user + t.system + t.nice + getattr(t, "irq", 0) + getattr(t, "softirq", 0)


def percentile(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


async def run_service(args: argparse.Namespace, workers: int, bootstrap: str, db_url: str, fake_url: str, records: list) -> dict:
    port = infra.free_port()
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": bootstrap, "BOOKFLOW_NOTIFICATION_DATABASE_URL": db_url,
           "BOOKFLOW_NOTIFICATION_HTTP_PORT": str(port), "BOOKFLOW_LOG_LEVEL": "WARNING", "BOOKFLOW_DEVELOPMENT": "1",
           "BOOKFLOW_NOTIFICATION_DISPATCH_BATCH_SIZE": str(args.batch), "BOOKFLOW_NOTIFICATION_SANDBOX_ENABLED": "false",
           "BOOKFLOW_NOTIFICATION_WORKERS": str(workers), "BOOKFLOW_NOTIFICATION_SMS_TEST_ADDRESSES": fake_url}
    log = open(Path(tempfile.gettempdir()) / "bench-notification-service.log", "w")  # noqa: SIM115
    service = subprocess.Popen([sys.executable, "-m", "bookflow_notification"], env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        base = f"http://127.0.0.1:{port}"
        await wait_ready(f"{base}/health/ready", service)
        await wait_for_group(bootstrap, "bookflow.notification.requests", workers)
        token = issue_staff_token(development.STAFF_TOKEN_PRIVATE_KEY, TENANT, "bench", ("administrator",))
        async with httpx.AsyncClient(base_url=base, headers={"Authorization": f"Bearer {token}"}) as client:
            account = {"provider": "46elks", "base_url": fake_url, "username": "bench", "password": "bench",
                       "sender": "+46766860000", "webhook_secret": "bench-secret-0123456789"}
            response = await client.put(f"/tenants/{TENANT}/notification-settings", json={"sms_providers": [account]})
            response.raise_for_status()
            await announce_tenant(bootstrap, client)
        conn = await asyncpg.connect(db_url.replace("postgresql+asyncpg", "postgresql"))
        proc = psutil.Process(service.pid)
        n, reached, peak_rss = len(records), {}, 0
        async with httpx.AsyncClient(base_url=fake_url) as fake:
            await fake.post("/reset")
            cpu_before, machine_before, others_before = _cpu_seconds(proc), _machine_busy_seconds(), _cpu_by_role()
            publishing = asyncio.create_task(publish(bootstrap, topics.NOTIFICATION_REQUESTS, records))
            start = time.time()
            while len(reached) < 2:
                # A light poll, a few times a second: the exact instants come from timestamps below.
                peak_rss = max(peak_rss, _rss(proc))
                total, queued, recorded = await conn.fetchrow(
                    "SELECT count(*), count(*) FILTER (WHERE status = 'queued'), count(*) FILTER (WHERE status = 'sent') FROM messages"
                )
                now = time.time()
                if total == n and queued == 0:
                    reached.setdefault("rendered", now)  # no stored instant: as exact as the poll
                if recorded == n:
                    reached["recorded"] = now
                if now - start > args.timeout:
                    sys.exit(f"timed out: {total} accepted, {total - queued} rendered, {recorded} recorded of {n}")
                await asyncio.sleep(0.25)
            cpu_used, machine_used = _cpu_seconds(proc) - cpu_before, _machine_busy_seconds() - machine_before
            others = {role: (seconds - others_before.get(role, 0.0)) / n * 1e6 for role, seconds in _cpu_by_role().items()}
            published = await publishing
            arrivals = (await fake.get("/arrivals")).json()
            accepted_at, recorded_at = await conn.fetchrow("SELECT max(created_at), max(sent_at) FROM messages")
            reached |= {"accepted": accepted_at.timestamp(), "sent": max(t for _, t in arrivals), "recorded": recorded_at.timestamp()}
        await conn.close()
        first = published[0]
        latencies = [(t - published[i]) * 1000 for i, t in arrivals]
        return {
            "rates": {stage: n / (t - first) for stage, t in reached.items()},
            "p50_ms": percentile(latencies, 50), "p99_ms": percentile(latencies, 99), "peak_rss_mb": peak_rss / 2**20,
            "cpu_us": cpu_used / n * 1e6, "machine_cpu_us": machine_used / n * 1e6, "others_us": others,
        }
    finally:
        service.terminate()
        service.wait(30)
        log.close()


async def run_floor(bootstrap: str, fake_url: str, records: list, concurrency: int) -> float:
    """A bare consume-and-POST loop on a fresh topic: the most a Python process can do here."""
    topic = f"bench.floor.{uuid.uuid4().hex[:8]}"
    await ensure_topics(bootstrap, (topic,), partitions=4)
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=f"floor-{uuid.uuid4().hex[:6]}", auto_offset_reset="earliest")
    await consumer.start()
    slots = asyncio.Semaphore(concurrency)
    auth = {"Authorization": aiohttp.encode_basic_auth("bench", "bench")}

    async def post(form: dict) -> None:
        async with slots, http.post(f"{fake_url}/a1/sms", data=form, headers=auth) as response:
            await response.text()

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as http:
        await (await http.post(f"{fake_url}/reset")).text()
        while not consumer.assignment():
            await consumer.getmany(timeout_ms=100)
        publishing = asyncio.create_task(publish(bootstrap, topic, records))
        done, n = 0, len(records)
        while done < n:
            batch = await consumer.getmany(timeout_ms=100, max_records=concurrency)
            posts = []
            for part in batch.values():
                for record in part:
                    env = Envelope.model_validate_json(record.value)
                    text = f"Hej, bench-{env.payload['data']['service'].split('-')[1]}"
                    posts.append(post({"from": "+46766860000", "to": env.payload["customer"]["phone"], "message": text}))
            await asyncio.gather(*posts)
            done += len(posts)
        published = await publishing
        end = time.time()
    await consumer.stop()
    return n / (end - published[0])


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", type=int, default=20_000, help="requests to send")
    parser.add_argument("--batch", type=int, default=200, help="dispatcher batch size")
    parser.add_argument("--workers", default=f"1,{os.cpu_count()}",
                        help="service processes (BOOKFLOW_NOTIFICATION_WORKERS), comma-separated for one run each")
    parser.add_argument("--timeout", type=float, default=600)
    args = parser.parse_args()

    scratch = Path(tempfile.mkdtemp(prefix="bench-notification-"))
    kafka = infra.start_tansu() if not os.environ.get("KAFKA_BOOTSTRAP_SERVERS") else infra.kafka_for_tests()
    postgres = await asyncio.to_thread(infra.postgres_for_tests, scratch)
    fake_port = infra.free_port()
    fake = subprocess.Popen([sys.executable, str(HERE / "fake_provider.py"), str(fake_port)])
    results = {}
    print(f"notification benchmark: {args.n} SMS requests, dispatcher batch {args.batch}, {os.cpu_count()} cores")
    try:
        fake_url = f"http://127.0.0.1:{fake_port}"
        await wait_ready(f"{fake_url}/count", fake)
        await ensure_topics(kafka.bootstrap_servers, topics.ALL, partitions=4)
        for workers in sorted({int(w) for w in args.workers.split(",")}):
            db_name = f"bench_notification_{uuid.uuid4().hex[:8]}"
            db_url = await asyncio.to_thread(postgres.create_database, db_name, fresh=True)
            await asyncio.to_thread(upgrade, ROOT / "services" / "notification" / "migrations", db_url)
            results[workers] = await run_service(args, workers, kafka.bootstrap_servers, db_url, fake_url, requests(args.n))
            await asyncio.to_thread(postgres.drop_database, db_name)
        floor = await run_floor(kafka.bootstrap_servers, fake_url, requests(args.n), 64)
    finally:
        fake.terminate()
        fake.wait(10)
        kafka.stop()
        postgres.stop()
    for workers, service in results.items():
        rates = service["rates"]
        print(f"service with {workers} worker process(es):")
        print(f"  accepted (stored queued)   {rates['accepted']:8.0f} msg/s")
        print(f"  rendered (claimed)         {rates['rendered']:8.0f} msg/s")
        print(f"  sent (at the provider)     {rates['sent']:8.0f} msg/s   target 2000")
        print(f"  recorded (sent in the DB)  {rates['recorded']:8.0f} msg/s")
        print(f"  request -> provider call   p50 {service['p50_ms']:.0f} ms   p99 {service['p99_ms']:.0f} ms")
        print(f"  CPU per SMS: service {service['cpu_us']:.0f} us, whole machine {service['machine_cpu_us']:.0f} us")
        print("    of which " + ", ".join(f"{role} {us:.0f} us" for role, us in sorted(service["others_us"].items(), key=lambda kv: -kv[1])))
        print(f"  peak RSS of the service    {service['peak_rss_mb']:.0f} MiB")
        print(f"  service sent / floor       {rates['sent'] / floor:8.2f}")
    print(f"floor: consume-and-POST      {floor:8.0f} msg/s")


if __name__ == "__main__":
    asyncio.run(main())
