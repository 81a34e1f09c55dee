"""Poison messages (issue 9): 1,000 malformed records on every consumed topic (bad bytes, bad and
truncated JSON, envelopes with missing or wrong-typed fields, records over 1 MiB, payloads with
missing or wrong-typed fields, unknown message types, unknown tenants), interleaved with valid
envelopes. Every malformed record is dead-lettered with its reason by every consumer whose
business it is (unknown types are nobody's business and are ignored, as the runtime does), every
valid one is handled (it is in its consumer's inbox and nobody dead-lettered it), and every
consumer group's lag comes back to 0: no consumer is wedged. See tests/faults/poison.py for the
rules each record is held to."""
from __future__ import annotations

import asyncio
import os
import random
import time
import uuid
from collections import Counter, defaultdict

import httpx
import pytest

from bookflow_contracts import topics
from bookflow_devstack.processes import SERVICES
from bookflow_devstack.testing import Kafka
from tests.faults.campaign import OPERATOR, Isolated, call, daytime_zone, read_envelopes
from tests.faults.poison import PoisonMaker, consumed_types, dead_letters, expectations, inbox_rows, publish, wait_for_lag_zero

pytestmark = [pytest.mark.system, pytest.mark.faults]

MALFORMED_PER_TOPIC = 1000
VALID_PER_TOPIC = 40
SEED = int(os.environ.get("BOOKFLOW_CAMPAIGN_SEED") or random.SystemRandom().randrange(2**31))


@pytest.mark.timeout(600)
async def test_a_thousand_malformed_messages_per_topic_are_dead_lettered_and_the_valid_ones_handled(
        system: Isolated, client: httpx.AsyncClient, stopwatch) -> None:
    print(f"\n[poison] seed {SEED}", flush=True)
    began = time.monotonic()
    bootstrap = system.kafka.bootstrap_servers

    # A tenant every service knows, for the valid messages.
    tenant_id = f"p-{uuid.uuid4().hex[:10]}"
    created = await call(client, "PUT", f"{system.url('booking')}/tenants/{tenant_id}", headers=OPERATOR,
                         json={"name": "Poison AB", "time_zone": daytime_zone(), "language": "sv", "flow": "confirmation"})
    assert created is not None and created.status_code == 200, created and created.text
    await wait_for_lag_zero(bootstrap, within=60)

    handles = await consumed_types(system, client)
    problems: list[str] = []
    for topic, services in topics.CONSUMED_BY.items():
        for service in services:
            if topic not in handles.get(service, {}):
                problems.append(f"{service} does not consume {topic}, which topics.CONSUMED_BY says it does")

    maker = PoisonMaker(random.Random(SEED), tenant_id)
    consumed = [t for t, services in topics.CONSUMED_BY.items() if services]
    records = [r for topic in consumed for r in maker.topic_records(topic, malformed=MALFORMED_PER_TOPIC, valid=VALID_PER_TOPIC)]
    expected = expectations(records, handles)
    kinds = Counter(r.kind for r in records)
    print(f"[poison] publishing {len(records)} records on {len(consumed)} topics: {dict(kinds)}", flush=True)
    await publish(bootstrap, records)
    published_at = time.monotonic()

    lag = await wait_for_lag_zero(bootstrap, within=240)
    print(f"[poison] consumer lag back to 0 after {time.monotonic() - published_at:.1f} s" if not lag else
          f"[poison] consumer lag not back to 0 after {time.monotonic() - published_at:.0f} s: {lag}", flush=True)
    problems += [f"consumer group {g} is {n} records behind on {t}" for (g, t), n in sorted(lag.items())]

    # Dead letters: wait (bounded) until every expected one is there; some come after a wait
    # (a request for an unknown tenant waits for the tenant's settings first).
    by_id = {r.id: r for r in records}
    by_event = {r.event_id: r for r in records if r.event_id}
    poison_ids = set(by_id)
    kafka = Kafka(bootstrap)
    try:
        deadline = time.monotonic() + 30  # the longest wait is the notification service's for a tenant (5 s by default)
        while True:
            got = await dead_letters(kafka, by_event, poison_ids)
            waiting = [k for k, verdict in expected.dead_letters.items() if verdict.required and verdict.reason and k not in got]
            if not waiting or time.monotonic() > deadline:
                break
            await asyncio.sleep(3)
    finally:
        await kafka.close()

    for (service, pid), verdict in sorted(expected.dead_letters.items()):
        record, reasons, reason = by_id[pid], got.get((service, pid), []), verdict.reason
        if reason is None and reasons:
            problems.append(f"{service} dead-lettered {record!r}, which is not its business: {reasons[0][:160]}")
        elif reason is not None and verdict.required and not reasons:
            problems.append(f"{service} never dead-lettered {record!r} (expected reason {reason})")
        elif reasons and not all(x.split(":", 1)[0].strip() == reason for x in reasons):
            problems.append(f"{service} dead-lettered {record!r} with reason {reasons[0][:160]!r}, expected {reason}")
        elif len(reasons) > 1:
            problems.append(f"{service} dead-lettered {record!r} {len(reasons)} times")
    for (service, pid), reasons in got.items():
        if by_id[pid].kind == "valid":
            problems.append(f"{service} dead-lettered the valid {by_id[pid]!r}: {reasons[0][:200]}")

    by_service: dict[str, list[str]] = defaultdict(list)
    for service, event_id in expected.handled:
        by_service[service].append(event_id)
    handled_count = 0
    for service, event_ids in sorted(by_service.items()):
        present = await inbox_rows(system, service, event_ids)
        handled_count += len(present)
        for event_id in event_ids:
            if event_id not in present:
                problems.append(f"{service} never handled the valid {by_event[event_id]!r} (not in its inbox)")

    for service in SERVICES:
        for event_id in await inbox_rows(system, service, sorted(expected.ignored)):
            problems.append(f"{service} handled {by_event[event_id]!r}, a type nobody knows (the runtime ignores those)")

    reasons = Counter(x.split(":", 1)[0] for rs in got.values() for x in rs)
    print(f"[poison] {len(records)} records ({kinds['valid']} valid) on {len(consumed)} topics; "
          f"dead letters of them: {sum(len(rs) for rs in got.values())} {dict(reasons)}; "
          f"expected dead letters: {sum(1 for v in expected.dead_letters.values() if v.reason and v.required)}; "
          f"valid ones handled: {handled_count} of {len(expected.handled)}; problems: {len(problems)}; "
          f"took {time.monotonic() - began:.0f} s", flush=True)
    summary = Counter(p.split(" ", 1)[0] + " " + _gist(p) for p in problems)
    for line, n in sorted(summary.items(), key=lambda x: -x[1])[:40]:
        print(f"[poison]   {n:5d} x {line}")
    for p in problems[:25]:
        print(f"  - {p}")
    assert not problems, f"{len(problems)} problems with poison messages (summary printed above)"


def _gist(problem: str) -> str:
    """A problem without its record's identity, to count alike ones together."""
    words = problem.split(" ", 1)[1]
    for cut in ("#",):
        if cut in words:
            head, _, tail = words.partition(cut)
            words = head + tail.split(")", 1)[-1]
    return words[:170]
