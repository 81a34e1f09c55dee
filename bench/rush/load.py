"""Staff and customers at work during the rush, at a fixed rate, with Locust (its library API, in a
process of its own: Locust runs on gevent, the harness on asyncio).

Per second, at `--rate 20` (the issue's 20 requests a second in all):
- 8 technicians' work lists read (`GET .../technicians/{id}/work-list?day=`, the rush's orders),
- 4 customers open My pages and 4 confirm (`GET /my/{token}`, `POST /my/{token}/confirm`),
- 4 bookings created by the front desk (`POST .../bookings`, a tenant in the confirmation flow).

Each user has its turn once a second, the users' turns evenly spread over the second, so the
requests arrive spread as independent users' do. With Locust's `constant_throughput` all twenty
fell into step after their first task (its first wait is always 0) and fired in the same
millisecond every second: each then waited for the nineteen before it, and the latencies
measured that burst (p50 160-280 ms while a lone request took 10-15 ms).

Every request is written to `--out` as `start unix time,name,milliseconds,ok`; the harness splits
them into during and outside the rush. Runs until SIGTERM.

    python load.py CONFIG.json --out requests.csv [--rate 20]
"""
from __future__ import annotations

import argparse
import itertools
import json
import random
import signal
import sys
import time
from datetime import UTC, datetime, timedelta

import gevent
import gevent.event
from locust import HttpUser, events, task
from locust.env import Environment

CONFIG: dict = {}
LINKS: itertools.cycle
STARTED = itertools.count()  # users started so far: each waits its share of a second first


class SpreadUser(HttpUser):
    """A user whose turn comes once a second, at its own point of it: the k-th of U users
    started is k/U seconds after the first. A request that takes longer than a second is
    caught up after, so the rate stays fixed."""

    abstract = True
    users = 1

    def on_start(self) -> None:
        gevent.sleep(next(STARTED) / SpreadUser.users)
        self.turn = time.monotonic()

    def wait_time(self) -> float:
        self.turn += 1
        return max(0.0, self.turn - time.monotonic())


class Technician(SpreadUser):
    """Reads their day's work list once a second."""

    @task
    def work_list(self) -> None:
        technician = random.choice(CONFIG["technicians"])
        self.client.get(f"/tenants/{CONFIG['rush_tenant']}/technicians/{technician}/work-list", params={"day": CONFIG["day"]},
                        headers=CONFIG["rush_headers"], name="work list")


class Customer(SpreadUser):
    """Opens the booking's My pages and confirms it, once a second."""

    @task
    def confirm(self) -> None:
        token = next(LINKS)
        self.client.get(f"/my/{token}", name="my pages open")
        self.client.post(f"/my/{token}/confirm", name="my pages confirm", allow_redirects=False)


class FrontDesk(SpreadUser):
    """Books a customer once a second."""

    @task
    def book(self) -> None:
        n = random.randrange(10**7)
        start = datetime.now(UTC) + timedelta(days=10, minutes=random.randrange(60 * 24 * 30))
        self.client.post(f"/tenants/{CONFIG['desk_tenant']}/bookings", headers=CONFIG["desk_headers"], name="booking created", json={
            "customer": {"name": f"Kund {n}", "phone": f"+4676{n:07d}", "language": "sv"}, "service": "klippning",
            "starts_at": start.isoformat(), "ends_at": (start + timedelta(minutes=30)).isoformat()})


def main() -> None:
    global LINKS
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("config")
    parser.add_argument("--out", required=True)
    parser.add_argument("--rate", type=float, default=20)
    args = parser.parse_args()
    CONFIG.update(json.loads(open(args.config).read()))
    LINKS = itertools.cycle(CONFIG["links"])
    out = open(args.out, "w", buffering=1)  # noqa: SIM115 (open while the load runs)

    def record(request_type, name, response_time, response_length, exception=None, start_time=None, response=None, **_):
        ok = exception is None and response is not None and response.status_code < 400
        out.write(f"{start_time:.3f},{name},{response_time:.1f},{int(ok)}\n")

    events.request.add_listener(record)
    shares = {Technician: 0.4, Customer: 0.2, FrontDesk: 0.2}  # requests per second each user makes: 1, 2, 1
    counts = {cls: max(1, round(args.rate * share)) for cls, share in shares.items()}
    for cls, count in counts.items():
        cls.fixed_count = count  # exactly so many of each, not drawn by weight
    SpreadUser.users = sum(counts.values())
    env = Environment(user_classes=list(counts), host=CONFIG["booking_url"], events=events)
    runner = env.create_local_runner()
    runner.start(user_count=sum(counts.values()), spawn_rate=100)
    gevent.sleep(0)
    stopped = gevent.event.Event()
    gevent.signal_handler(signal.SIGTERM, stopped.set)
    stopped.wait()
    runner.quit()
    out.close()
    sys.exit(0)


if __name__ == "__main__":
    main()
