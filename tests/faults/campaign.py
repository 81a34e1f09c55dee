"""A small library for fault campaigns (issue 9), for this campaign and the flows still to come:

- `isolated_stack`: a broker, a PostgreSQL server and the five services of the campaign's own,
  never the machine's shared PostgreSQL or the system tests' stack, so that restarting
  PostgreSQL or killing a service disturbs nobody else.
- `Faults`: SIGKILL a service and start it again, stop a service for a while, restart
  PostgreSQL, make the SMS provider fail; `Faults.at_random` runs a seeded random schedule of
  them (the seed is printed so a run can be repeated). Every fault is logged with its instant.
- `Office`: a tenant of the running system on a seconds scale, whose SMS go to the fake provider,
  each text beginning with `[[template-key]]`, and staff calls that ride out outages.
- `reconcile`: what was asked of the notification service (`notification.requests`), what the
  booking histories say happened meanwhile, and what the provider received: every message still
  meant at the provider exactly once, none after the change that ended its purpose (withdrawn,
  suppressed or failed with a reason instead), nothing lost, nothing invented.
"""
from __future__ import annotations

import asyncio
import contextlib
import random
import shutil
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from bookflow_contracts import Envelope, topics
from bookflow_devstack import infra
from bookflow_devstack.processes import SERVICES, Stack
from bookflow_devstack.testing import Kafka, daytime_zone, staff_headers
from bookflow_runtime import development

from tests.faults.provider import FakeSmsProvider, Receipt

OPERATOR = {"Authorization": f"Bearer {development.OPERATOR_TOKEN}"}


def now() -> datetime:
    return datetime.now(UTC)


# --- an isolated system ----------------------------------------------------------------------


@dataclass
class Isolated:
    """The campaign's own broker, PostgreSQL server and five services."""

    kafka: infra.Kafka
    postgres: infra.Postgres
    stack: Stack
    workdir: Path

    def url(self, service: str) -> str:
        return self.stack.services[service].url


@contextlib.contextmanager
def isolated_stack(workdir: Path, env: dict[str, dict[str, str]] | None = None) -> Iterator[Isolated]:
    """Start tansu, an embedded PostgreSQL in `workdir` (a Unix socket in its data directory,
    no TCP port) and the five services with `env` per service; stop everything afterwards."""
    workdir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    # The data directory lives outside pytest's private (0700) temporary tree: as root, the
    # embedded server runs as its own system user, which must reach it to start and to stop.
    pg_dir = Path(tempfile.mkdtemp(prefix="bookflow-campaign-pg-"))
    kafka = infra.start_tansu(log_path=workdir / "tansu.log")
    postgres = infra.start_embedded_postgres(pg_dir / "pgdata")
    stack = Stack(kafka, postgres, workdir / "logs", {name: infra.free_port() for name in SERVICES},
                  database_prefix="campaign_", extra_env=env or {})
    try:
        stack.prepare(fresh=True)
        stack.start(timeout=90)
        print(f"\n[campaign] own stack ready in {time.monotonic() - started:.1f} s: broker {kafka.bootstrap_servers}, "
              f"{postgres.origin}, logs in {stack.log_dir}", flush=True)
        yield Isolated(kafka, postgres, stack, workdir)
    finally:
        stack.stop()
        postgres.stop()
        kafka.stop()
        shutil.rmtree(pg_dir, ignore_errors=True)


# --- faults ----------------------------------------------------------------------------------


@dataclass
class FaultLog:
    """Every fault with its instant, printed as it happens and kept for the report."""

    began: float = field(default_factory=time.monotonic)
    events: list[tuple[datetime, str]] = field(default_factory=list)

    def note(self, what: str) -> None:
        self.events.append((now(), what))
        print(f"[campaign +{time.monotonic() - self.began:6.1f} s] {what}", flush=True)

    def during(self, start: datetime, end: datetime) -> list[str]:
        return [what for at, what in self.events if start <= at <= end]


class Faults:
    """Faults that really happen, against an isolated stack. Blocking work (processes, pg_ctl)
    runs in threads, so the fake provider and the customers in this event loop keep going."""

    def __init__(self, system: Isolated, provider: FakeSmsProvider, log: FaultLog | None = None) -> None:
        self.system = system
        self.provider = provider
        self.log = log or FaultLog()
        self.down: dict[str, list[tuple[datetime, datetime | None]]] = defaultdict(list)
        """Per service (and `provider`): from when to when it was down (None: still down)."""
        self.kills: dict[str, list[datetime]] = defaultdict(list)

    def _went_down(self, what: str, at: datetime) -> None:
        self.down[what].append((at, None))

    def _came_up(self, what: str, at: datetime) -> None:
        if self.down[what] and self.down[what][-1][1] is None:
            self.down[what][-1] = (self.down[what][-1][0], at)

    def windows(self, *what: str) -> list[tuple[datetime, datetime]]:
        """When any of `what` was down (an open window ends now)."""
        return [(start, end or now()) for w in what for start, end in self.down.get(w, [])]

    async def kill(self, service: str) -> None:
        """SIGKILL the service (no chance to finish anything), start it again, wait until ready."""
        svc = self.system.stack.services[service]
        await asyncio.to_thread(svc.kill)
        self._went_down(service, now())
        self.kills[service].append(now())
        self.log.note(f"SIGKILL {service}")
        await self.start(service)

    async def stop(self, service: str) -> None:
        """Ask the service to stop (SIGTERM; SIGKILL after 15 s) and leave it down."""
        svc = self.system.stack.services[service]
        began = time.monotonic()
        await asyncio.to_thread(svc.stop)
        self._went_down(service, now())
        self.log.note(f"{service} stopped (SIGTERM, gone after {time.monotonic() - began:.1f} s)")

    async def start(self, service: str) -> None:
        svc = self.system.stack.services[service]
        began = time.monotonic()
        await asyncio.to_thread(svc.start)
        await asyncio.to_thread(svc.wait_ready, 90)
        self._came_up(service, now())
        self.log.note(f"{service} started again, ready after {time.monotonic() - began:.1f} s")

    async def restart_postgres(self, down_seconds: float = 2.0, mode: str = "fast") -> None:
        """Stop PostgreSQL (`fast`: every connection cut; `immediate`: as a crash), keep it down,
        start it on the same data."""
        restart = self.system.postgres.restart
        assert restart is not None, "only a PostgreSQL server the campaign started can be restarted"
        self.log.note(f"PostgreSQL stopping ({mode}), to stay down for {down_seconds:.1f} s")
        began = time.monotonic()
        await asyncio.to_thread(restart, down_seconds, mode)
        self.log.note(f"PostgreSQL started again after {time.monotonic() - began:.1f} s")

    def provider_fails(self, status: int, seconds: float) -> None:
        self.provider.fail_with(status, seconds)
        self.down["provider"].append((now(), now() + timedelta(seconds=seconds)))
        self.log.note(f"SMS provider answers {status} for {seconds:.0f} s")

    async def at_random(self, rng: random.Random, faults: Iterable[tuple[str, Callable[[], Awaitable[None]]]],
                        within_seconds: float) -> None:
        """Run `faults` one after the other at seeded random instants within the window (each
        waits for the one before it to recover, so a later one may start late)."""
        chosen = list(faults)
        began = time.monotonic()
        instants = sorted(rng.uniform(1.0, within_seconds) for _ in chosen)
        rng.shuffle(chosen)
        for instant, (name, fault) in zip(instants, chosen, strict=True):
            await asyncio.sleep(max(0.0, began + instant - time.monotonic()))
            self.log.note(f"fault '{name}' (planned at +{instant:.1f} s of the window)")
            await fault()
        await asyncio.sleep(max(0.0, began + within_seconds - time.monotonic()))


# --- talking to the system -------------------------------------------------------------------


async def call(client: httpx.AsyncClient, method: str, url: str, *, within: float = 60.0, **kwargs: Any) -> httpx.Response | None:
    """One request, repeated while the service is unreachable or answers 5xx (a killed service,
    a restarting database) for up to `within` seconds; the last answer, or None if none came."""
    deadline = time.monotonic() + within
    last: httpx.Response | None = None
    while True:
        try:
            last = await client.request(method, url, **kwargs)
            if last.status_code < 500:
                return last
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            return last
        await asyncio.sleep(0.25)


@dataclass
class Office:
    """A tenant of the running system: its staff token, and its SMS at the fake provider."""

    system: Isolated
    provider: FakeSmsProvider
    id: str
    token: str
    language: str
    client: httpx.AsyncClient

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    @property
    def booking_url(self) -> str:
        return f"{self.system.url('booking')}/tenants/{self.id}"

    @classmethod
    async def open(cls, system: Isolated, provider: FakeSmsProvider, client: httpx.AsyncClient, *, name: str,
                   language: str = "sv", **settings: Any) -> "Office":
        """Create the tenant (booking service); once the notification service knows it, point
        its SMS at the fake provider and mark its SMS templates. (Setting the provider before the
        notification service has taken in `tenant.updated` can lose it: test_settings_race.py.)"""
        tenant_id = f"c-{uuid.uuid4().hex[:10]}"
        body = {"name": name, "time_zone": daytime_zone(), "language": language, "channels": ["sms"], **settings}
        created = await call(client, "PUT", f"{system.url('booking')}/tenants/{tenant_id}", headers=OPERATOR, json=body)
        assert created is not None and created.status_code == 200, created and created.text
        office = cls(system, provider, tenant_id, created.json()["staff_token"], language, client)
        admin = staff_headers(tenant_id, "administrator")
        notification = f"{system.url('notification')}/tenants/{tenant_id}"

        async def described() -> dict:
            deadline = time.monotonic() + 30
            while True:
                known = await call(client, "GET", f"{notification}/notification-settings", headers=admin)
                if known is not None and known.status_code == 200 and known.json().get("time_zone") == body["time_zone"]:
                    return known.json()
                assert time.monotonic() < deadline, f"the notification service never heard of tenant {tenant_id}"
                await asyncio.sleep(0.2)

        await described()
        sender = "".join(ch for ch in name if ch.isalnum())[:11] or "Campaign"
        configured = await call(client, "PUT", f"{notification}/notification-settings", headers=admin,
                                json={"sms_providers": [provider.account(sender)]})
        assert configured is not None and configured.status_code == 200, configured and configured.text
        await mark_templates(client, notification, admin, language)
        providers = [a.get("provider") for a in (await described())["settings"]["sms_providers"]]
        assert providers == ["46elks"], f"tenant {tenant_id}'s SMS provider did not stick: {providers}"
        return office

    async def request(self, method: str, path: str, *, within: float = 60.0, headers: dict | None = None,
                      **kwargs: Any) -> httpx.Response | None:
        return await call(self.client, method, f"{self.booking_url}{path}", headers={**self.headers, **(headers or {})},
                          within=within, **kwargs)

    async def booking(self, booking_id: str) -> dict:
        answer = await self.request("GET", f"/bookings/{booking_id}")
        assert answer is not None and answer.status_code == 200, answer and answer.text
        return answer.json()

    async def bookings(self) -> list[dict]:
        answer = await self.request("GET", "/bookings")
        assert answer is not None and answer.status_code == 200, answer and answer.text
        return answer.json()

    async def create(self, body: dict) -> dict | None:
        """POST a booking, retried through outages with one idempotency key (a retry after an
        ambiguous failure must not book twice). None if the service never said yes."""
        key = str(uuid.uuid4())
        answer = await self.request("POST", "/bookings", json=body, headers={"Idempotency-Key": key}, within=90)
        if answer is None or answer.status_code not in (200, 201):
            print(f"[campaign] booking not created: {answer and answer.status_code} {answer and answer.text[:300]}", flush=True)
            return None
        return answer.json()

    async def move(self, booking_id: str, transition: str, reason: str = "campaign") -> bool:
        """A staff transition; True when the booking made it (also when an earlier, ambiguous try did)."""
        answer = await self.request("POST", f"/bookings/{booking_id}/transitions/{transition}", json={"reason": reason})
        if answer is not None and answer.status_code == 200:
            return True
        history = (await self.booking(booking_id))["history"]
        return any(h["transition"] == transition for h in history)


async def mark_templates(client: httpx.AsyncClient, notification_tenant_url: str, headers: dict, language: str) -> None:
    """Save every SMS template of the tenant as its default text with `[[key]] ` in front, so each
    text the provider receives names its template, whatever the wording becomes."""
    listed = await call(client, "GET", f"{notification_tenant_url}/templates", headers=headers)
    assert listed is not None and listed.status_code == 200, listed and listed.text
    for template in listed.json():
        key, default = template["template_key"], template["defaults"][language]
        saved = await call(client, "PUT", f"{notification_tenant_url}/templates/{key}/sms/{language}", headers=headers,
                           json={"subject": default.get("subject") or "", "body": f"[[{key}]] {default['body']}"})
        assert saved is not None and saved.status_code == 200, saved and saved.text


# --- what the topics hold --------------------------------------------------------------------


async def read_envelopes(kafka: Kafka, *names: str, quiet_seconds: float = 1.5, within: float = 60.0) -> list[tuple[str, Envelope]]:
    """Every envelope on the topics from the beginning, read until nothing new came for a while."""
    out: list[tuple[str, Envelope]] = []
    async with kafka.reader(*names) as reader:
        deadline, last_count, last_change = time.monotonic() + within, -1, time.monotonic()
        while time.monotonic() < deadline:
            records = await reader.poll()
            if len(records) != last_count:
                last_count, last_change = len(records), time.monotonic()
            elif time.monotonic() - last_change > quiet_seconds:
                break
        for record in reader.records:
            with contextlib.suppress(Exception):
                out.append((record.topic, Envelope.model_validate_json(record.value)))
    return out


# --- reconciliation --------------------------------------------------------------------------


@dataclass(frozen=True)
class Requested:
    """A `notification.send` as it was asked for."""

    idempotency_key: str
    tenant_id: str
    booking_id: str | None
    version: int | None
    template: str
    at: datetime
    valid_until: datetime | None

    @classmethod
    def of(cls, envelope: Envelope) -> "Requested":
        p = envelope.payload
        version = p.get("regarding_version")
        if version is None:  # requests before `regarding_version`: booking:<id>:v<N>:<template>
            parts = p["idempotency_key"].split(":")
            version = next((int(x[1:]) for x in parts if x[:1] == "v" and x[1:].isdigit()), None)
        until = p.get("valid_until")
        return cls(p["idempotency_key"], envelope.tenant_id, p.get("booking_id"), version, p["template_key"],
                   envelope.occurred_at, datetime.fromisoformat(until) if until else None)


@dataclass
class BookingRecord:
    """A booking as its staff API shows it at the end: phone and history (one row per version)."""

    id: str
    tenant_id: str
    phone: str | None
    state: str
    history: list[dict]

    def left_version_at(self, version: int | None) -> datetime | None:
        """When the booking moved on from `version` (the transition that made version+1)."""
        if version is None or len(self.history) <= version:
            return None
        at = self.history[version]["at"]
        return at if isinstance(at, datetime) else datetime.fromisoformat(at)


FINAL_WITHOUT_SENDING = ("withdrawn", "suppressed", "failed")


@dataclass
class Outcome:
    request: Requested
    receipts: list[Receipt]
    purpose_ended_at: datetime | None
    status: tuple[str, str | None] | None  # the last status the notification service published

    tolerance: timedelta = timedelta(0)  # how long after its purpose ended a message may still arrive (a race)
    in_doubt: bool = False  # never arrived, failed as "outcome unknown" after the service was killed mid-send

    @property
    def still_meant(self) -> bool:
        return self.purpose_ended_at is None

    @property
    def latest_allowed(self) -> datetime | None:
        return None if self.purpose_ended_at is None else self.purpose_ended_at + self.tolerance


@dataclass
class Reconciliation:
    outcomes: list[Outcome]
    unrequested: list[Receipt]
    never_requested: list[str]
    race_seconds: float
    problems: list[str] = field(default_factory=list)
    explanations: list[str] = field(default_factory=list)  # what the communication log says of the first problems

    @property
    def figures(self) -> dict[str, int]:
        meant = [o for o in self.outcomes if o.still_meant and not o.in_doubt]
        ended = [o for o in self.outcomes if not o.still_meant]
        stale = [r for o in ended for r in o.receipts if r.at > o.latest_allowed]  # type: ignore[operator]
        raced = [r for o in ended for r in o.receipts if o.purpose_ended_at < r.at <= o.latest_allowed]  # type: ignore[operator]
        return {
            "requested": len(self.outcomes),
            "expected": len(meant) + len(self.never_requested),
            "delivered": sum(1 for o in meant if o.receipts),
            "in_doubt": sum(1 for o in self.outcomes if o.still_meant and o.in_doubt),
            "duplicates": sum(max(0, len(o.receipts) - 1) for o in self.outcomes),
            "missing": sum(1 for o in meant if not o.receipts) + len(self.never_requested),
            "stale": len(stale),
            "raced": len(raced),
            "withheld": sum(1 for o in ended if not o.receipts and o.status and o.status[0] in FINAL_WITHOUT_SENDING),
            "unaccounted": sum(1 for o in ended if not o.receipts and not (o.status and o.status[0] in FINAL_WITHOUT_SENDING)),
            "unrequested": len(self.unrequested),
            "double_bookings": sum(1 for p in self.problems if p.startswith("DOUBLE BOOKING")),
            "received": sum(len(o.receipts) for o in self.outcomes) + len(self.unrequested),
        }

    def report(self, limit: int | None = 60) -> str:
        f = self.figures
        lines = [
            "reconciliation: " + ", ".join(f"{k} {v}" for k, v in f.items()),
            f"  (expected: requests still meant at the end, plus messages the flows call for that were never requested; "
            f"stale: received after the change that ended their purpose, beyond {self.race_seconds:g} s where the withdrawal "
            f"could race the send (none while the notification service or the provider was down); raced: within it; "
            f"withheld: purpose ended before sending and withdrawn, suppressed or failed instead)",
        ]
        shown = self.problems if limit is None else self.problems[:limit]
        more = [f"  ... and {len(self.problems) - len(shown)} more"] if len(shown) < len(self.problems) else []
        told = ["  what the notification service's log says of the first of them:", *self.explanations] if self.explanations else []
        return "\n".join(lines + [f"  - {p}" for p in shown] + more + told)


def reconcile(requests: Iterable[Requested], receipts: Iterable[Receipt], bookings: Iterable[BookingRecord],
              statuses: dict[str, tuple[str, str | None]], *, required: Iterable[tuple[str, str, str]] = (),
              race_seconds: float = 1.0, nothing_sendable: Iterable[tuple[datetime, datetime]] = (),
              sender_killed: Iterable[datetime] = ()) -> Reconciliation:
    """Match what the provider received with what was asked for, booking by booking (each
    booking has its own phone number; each text names its template).

    `statuses`: the last `notification.status` per idempotency key. `required`: (booking id,
    template, why) the flows call for, whether or not it was ever requested.
    `nothing_sendable`: windows in which nothing could be sent (the notification service or the
    provider down): a purpose that ended in one (up to `race_seconds` before its end) left the
    withdrawal waiting for the service, so no race excuses a message received after it.
    `sender_killed`: when the notification service was SIGKILLed. A message it had claimed and
    was handing to the provider at that instant cannot be known to have gone out: the service
    marks it failed with "outcome unknown" rather than risk sending it twice (providers take no
    idempotency key). Such a message that never arrived is counted `in_doubt`, not missing; the
    same after a mere SIGTERM (a stop that should finish its calls) is missing."""
    kills = sorted(sender_killed)
    strict = [(start, end - timedelta(seconds=race_seconds)) for start, end in nothing_sendable]
    as_of = now()  # a `valid_until` still ahead has not ended anything yet

    def tolerance(ended: datetime) -> timedelta:
        return timedelta(0) if any(start <= ended <= end for start, end in strict) else timedelta(seconds=race_seconds)
    by_id = {b.id: b for b in bookings}
    by_phone: dict[str, list[BookingRecord]] = defaultdict(list)
    for b in by_id.values():
        if b.phone:
            by_phone[b.phone].append(b)
    problems: list[str] = [f"DOUBLE BOOKING: {len(same)} bookings for one customer ({phone}): {', '.join(b.id for b in same)} "
                           f"(a retried request booked twice?)" for phone, same in by_phone.items() if len(same) > 1]
    firsts: dict[str, Requested] = {}
    for r in sorted(requests, key=lambda r: r.at):
        firsts.setdefault(r.idempotency_key, r)  # a relay may publish a row twice; the key sends once
    wanted = [r for r in firsts.values() if r.booking_id in by_id]
    groups: dict[tuple[str, str], list[Requested]] = defaultdict(list)  # (phone, template): requests, oldest first
    for r in wanted:
        groups[(by_id[r.booking_id].phone or "", r.template)].append(r)  # type: ignore[index]
    got: dict[str, list[Receipt]] = defaultdict(list)
    unrequested: list[Receipt] = []
    for receipt in sorted(receipts, key=lambda r: r.at):
        group = groups.get((receipt.to, receipt.template or ""))
        if not group:
            unrequested.append(receipt)
            known = ", ".join(b.id for b in by_phone.get(receipt.to, [])) or "no booking has this number"
            problems.append(f"UNREQUESTED {receipt.template} to {receipt.to} at {receipt.at:%H:%M:%S.%f}: no request for it ({known})")
            continue
        earlier = [r for r in group if r.at <= receipt.at + timedelta(seconds=2)]
        got[(earlier or group)[-1].idempotency_key].append(receipt)

    outcomes = []
    for r in wanted:
        booking = by_id[r.booking_id]  # type: ignore[index]
        ends = [t for t in (booking.left_version_at(r.version), r.valid_until) if t is not None and t <= as_of]
        outcome = Outcome(r, got.get(r.idempotency_key, []), min(ends) if ends else None, statuses.get(r.idempotency_key))
        if ends:
            outcome.tolerance = tolerance(min(ends))
        outcome.in_doubt = (not outcome.receipts and outcome.status is not None and outcome.status[0] == "failed"
                            and "outcome unknown" in (outcome.status[1] or "") and any(k >= r.at for k in kills))
        if outcome.in_doubt and outcome.still_meant:
            problems.append(f"in doubt (tolerated) {r.template} v{r.version} of booking {booking.id}: the notification service "
                            f"was killed while handing it to the provider; it never arrived and is failed: {outcome.status[1]}")  # type: ignore[index]
        outcomes.append(outcome)
        when = ", ".join(f"{x.at:%H:%M:%S.%f}" for x in outcome.receipts)
        if outcome.still_meant and not outcome.receipts and not outcome.in_doubt:
            problems.append(f"MISSING {r.template} v{r.version} of booking {booking.id} ({booking.state}), asked at "
                            f"{r.at:%H:%M:%S.%f}; last status {outcome.status}")
        if len(outcome.receipts) > 1:
            problems.append(f"DUPLICATE {r.template} v{r.version} of booking {booking.id}: received {len(outcome.receipts)} times ({when})")
        if not outcome.still_meant:
            late = [x for x in outcome.receipts if x.at > outcome.latest_allowed]  # type: ignore[operator]
            raced = [x for x in outcome.receipts if outcome.purpose_ended_at < x.at <= outcome.latest_allowed]  # type: ignore[operator]
            if raced:
                problems.append(f"raced (tolerated) {r.template} v{r.version} of booking {booking.id}: received "
                                f"{(raced[0].at - outcome.purpose_ended_at).total_seconds():.2f} s after its purpose ended "  # type: ignore[operator]
                                f"({_why_ended(booking, r)})")
            if late:
                problems.append(
                    f"STALE {r.template} v{r.version} of booking {booking.id}: its purpose ended at "
                    f"{outcome.purpose_ended_at:%H:%M:%S.%f} ({_why_ended(booking, r)}), received at "
                    f"{', '.join(f'{x.at:%H:%M:%S.%f}' for x in late)} "
                    f"(+{(late[0].at - outcome.purpose_ended_at).total_seconds():.2f} s); asked at {r.at:%H:%M:%S.%f}")  # type: ignore[operator]
            if not outcome.receipts and not (outcome.status and outcome.status[0] in FINAL_WITHOUT_SENDING):
                problems.append(f"UNACCOUNTED {r.template} v{r.version} of booking {booking.id}: its purpose ended, it never "
                                f"reached the provider, and the notification service says {outcome.status} instead of "
                                f"withdrawn, suppressed or failed")
    asked = {(r.booking_id, r.template) for r in wanted}
    never = [f"{template} of booking {booking_id}: {why}" for booking_id, template, why in required
             if (booking_id, template) not in asked]
    problems += [f"NEVER REQUESTED {n}" for n in never]
    return Reconciliation(outcomes, unrequested, never, race_seconds, problems)


def _why_ended(booking: BookingRecord, r: Requested) -> str:
    moved = booking.left_version_at(r.version)
    if moved is not None and (r.valid_until is None or moved <= r.valid_until):
        step = booking.history[r.version]  # type: ignore[index]
        return f"{step['transition']} by {step['actor']}"
    return "valid_until passed"


def last_statuses(envelopes: Iterable[Envelope]) -> dict[str, tuple[str, str | None]]:
    """The last status the notification service published for each idempotency key."""
    latest: dict[str, tuple[datetime, str, str | None]] = {}
    for env in envelopes:
        if env.type != "notification.status-changed":
            continue
        p = env.payload
        at = datetime.fromisoformat(p["at"])
        key = p["idempotency_key"]
        if key not in latest or at >= latest[key][0]:
            latest[key] = (at, p["status"], p.get("reason"))
    return {k: (s, reason) for k, (_, s, reason) in latest.items()}


async def booking_records(office: Office) -> list[BookingRecord]:
    """Every booking of the office, with its history, as its staff API shows it."""
    out = []
    for listed in await office.bookings():
        view = await office.booking(listed["id"])
        out.append(BookingRecord(str(view["id"]), office.id, view.get("phone"), view["state"], view["history"]))
    return out


async def gather_and_reconcile(system: Isolated, provider: FakeSmsProvider, offices: Iterable[Office], *,
                               required: Iterable[tuple[str, str, str]] = (), race_seconds: float = 1.0,
                               nothing_sendable: Iterable[tuple[datetime, datetime]] = (),
                               sender_killed: Iterable[datetime] = ()) -> Reconciliation:
    """Read the topics and the bookings, and reconcile them with the provider's receipts."""
    offices = list(offices)
    tenants = {o.id for o in offices}
    kafka = Kafka(system.kafka.bootstrap_servers)
    try:
        envelopes = await read_envelopes(kafka, topics.NOTIFICATION_REQUESTS, topics.NOTIFICATION_STATUS)
    finally:
        await kafka.close()
    requests = [Requested.of(e) for t, e in envelopes if e.type == "notification.send" and e.tenant_id in tenants]
    statuses = last_statuses(e for t, e in envelopes if e.tenant_id in tenants)
    bookings = [b for o in offices for b in await booking_records(o)]
    result = reconcile(requests, list(provider.received), bookings, statuses, required=required, race_seconds=race_seconds,
                       nothing_sendable=nothing_sendable, sender_killed=sender_killed)
    await explain(system, result, offices[0].client)
    return result


async def explain(system: Isolated, result: Reconciliation, client: httpx.AsyncClient, *, at_most: int = 12) -> None:
    """Add what the notification service's communication log says of the messages behind the
    first problems (missing, stale, unaccounted), while the system still runs."""
    wrong = [o for o in result.outcomes if (o.still_meant and not o.receipts and not o.in_doubt)
             or (not o.still_meant and any(r.at > o.latest_allowed for r in o.receipts))  # type: ignore[operator]
             or (not o.still_meant and not o.receipts and not (o.status and o.status[0] in FINAL_WITHOUT_SENDING))]
    for o in wrong[:at_most]:
        r = o.request
        answer = await call(client, "GET", f"{system.url('notification')}/tenants/{r.tenant_id}/messages",
                            params={"booking_id": r.booking_id}, headers=staff_headers(r.tenant_id, "administrator"), within=10)
        if answer is None or answer.status_code != 200:
            result.explanations.append(f"    (no communication log for booking {r.booking_id}: {answer and answer.status_code})")
            continue
        entries = [m for m in answer.json() if m.get("template_key") == r.template] or answer.json()
        for m in entries:
            steps = "; ".join(f"{h.get('at', '')[11:23]} {h.get('status')} {(h.get('detail') or '')[:90]}" for h in m.get("history", []))
            result.explanations.append(f"    log of {r.template} of booking {r.booking_id}: {m.get('template_key')} is {m.get('status')} "
                                   f"({m.get('reason')}); history: {steps or 'none'}")
        if not entries:
            result.explanations.append(f"    log of booking {r.booking_id}: the notification service has no message for it")
