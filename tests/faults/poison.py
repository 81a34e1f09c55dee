"""Poison messages and valid ones for every consumed topic, and what each consumer must do with
them (issue 9, "Poison messages"), following the runtime's delivery rules
(libs/runtime/src/bookflow_runtime/consumer.py):

- a record that is not a bookflow envelope (bad bytes, bad JSON, JSON that is not an object, an
  envelope with missing or wrong-typed fields, a record over 1 MiB) is dead-lettered by every
  consumer of its topic with reason `undecodable`;
- an envelope of a type a consumer handles whose payload has a missing or wrong-typed field is
  dead-lettered by that consumer with reason `invalid`; consumers that do not handle the type
  ignore it (not their business);
- an envelope of a type nobody knows is ignored by every consumer, dead-lettered by none;
- an envelope for a tenant nobody created is dead-lettered with reason `unknown-tenant` by every
  consumer that handles its type and knows tenants (booking, which owns them, and the services
  that consume `tenant.updated`), possibly after waiting for the tenant's settings; `tenant.updated`
  itself introduces tenants, the scheduler keeps no tenants, and a `reminder.due` concerns only
  the consumer owning its timer key;
- a valid envelope is handled: its consumer records it in its inbox, and nobody dead-letters it.

Every poison record carries a `poison-id` header and the key `poison:<id>`, which its dead letter
keeps, so each dead letter is matched to the record it came from.
"""
from __future__ import annotations

import asyncio
import json
import random
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
from aiokafka import AIOKafkaProducer

from bookflow_contracts import (
    AddWorkLine,
    AutoBook,
    BookingCommandApplied,
    BookingCommandRefused,
    BookingCreated,
    BookingSnapshot,
    CancelTimer,
    CancelTimersWithPrefix,
    CatalogUpdated,
    ChangeCustomerContact,
    CheckinAnswered,
    CheckinItemHandled,
    CommentSharedWithMechanics,
    CustomerSnapshot,
    CustomerUpdated,
    Envelope,
    Message,
    NotificationStatusChanged,
    OrderTransitioned,
    ReminderDue,
    ReplyReceived,
    SendNotification,
    SetTimer,
    TenantUpdated,
    TillSaleRecorded,
    WithdrawNotifications,
    WorkLine,
    encode,
    message_types,
    topics,
)
from bookflow_contracts.sales import SaleLine
from bookflow_devstack import ops
from bookflow_devstack.processes import SERVICES
from bookflow_devstack.testing import Kafka

from tests.faults.campaign import Isolated, call

TIMER_OWNERS = {"booking": "booking", "checkin": "checkin", "recall": "recall", "book-again": "recall"}
"""A timer key's first part, and the service that set such timers (and handles them)."""


def tenant_aware() -> set[str]:
    """Services that know which tenants exist: booking owns them, the others learn them from
    `tenant.updated`. Only these can tell that a message's tenant does not exist."""
    return {"booking", *topics.CONSUMED_BY[topics.TENANT_UPDATED]}


def valid_message(message_type: str, tenant_id: str, rng: random.Random, *, owner: str = "booking") -> Message:
    """A valid message of the type for `tenant_id`, about things that need not exist (a booking
    nobody has): each consumer must take it in its stride."""
    u = lambda: uuid.UUID(int=rng.getrandbits(128), version=4)  # noqa: E731
    at = datetime.now(UTC)
    customer = CustomerSnapshot(customer_id=u(), name="Åsa Öberg", phone=f"+46702{rng.randrange(10**6):06d}", language="sv")
    booking_id = u()
    builders: dict[str, Callable[[], Message]] = {
        "booking.add-work-line": lambda: AddWorkLine(request_id=u(), booking_id=booking_id, line=WorkLine(line_id=u(), service="mätarbyte")),
        "booking.auto-book": lambda: AutoBook(request_id=u(), customer_id=customer.customer_id, service="mätarbyte",
                                              search_from=at + timedelta(days=1), search_until=at + timedelta(days=8)),
        "booking.change-customer-contact": lambda: ChangeCustomerContact(request_id=u(), customer_id=customer.customer_id),
        "booking.command-applied": lambda: BookingCommandApplied(request_id=u(), command="booking.change-customer-contact"),
        "booking.command-refused": lambda: BookingCommandRefused(request_id=u(), command="booking.auto-book",
                                                                 reason_code="no-free-slot", reason="no free time"),
        "booking.created": lambda: BookingCreated(booking_id=booking_id, customer=customer, service="mätarbyte",
                                                  starts_at=at + timedelta(days=3), ends_at=at + timedelta(days=3, hours=1), state="booked"),
        "catalog.updated": lambda: CatalogUpdated(tenant_id=tenant_id),
        "checkin.answered": lambda: CheckinAnswered(booking_id=booking_id, customer_id=customer.customer_id, answered_at=at),
        "checkin.comment-shared": lambda: CommentSharedWithMechanics(booking_id=booking_id, comment_id=u(), visible=True,
                                                                     subject="Däck", description="Byt sommardäck"),
        "checkin.item-handled": lambda: CheckinItemHandled(booking_id=booking_id, item_id=u(), kind="comment", outcome="handled",
                                                           actor="staff:ann", all_handled=True),
        "customer.updated": lambda: CustomerUpdated(customer=customer),
        "notification.send": lambda: SendNotification(
            idempotency_key=f"poison-test:{u()}", customer=customer, channels=["sms"], template_key="booking-notice", booking_id=booking_id,
            data={"service": "mätarbyte", "starts_at": (at + timedelta(days=3)).isoformat(), "booking_id": str(booking_id),
                  "my_pages_url": "http://127.0.0.1/my/x"}),
        "notification.status-changed": lambda: NotificationStatusChanged(
            message_id=u(), idempotency_key=f"booking:{booking_id}:v0:booking-notice", booking_id=booking_id,
            customer_id=customer.customer_id, channel="sms", status="delivered", at=at),
        "notification.withdraw": lambda: WithdrawNotifications(regarding=f"booking:{booking_id}", before_version=1,
                                                               booking_id=booking_id, reason="the booking moved on"),
        "order.transitioned": lambda: OrderTransitioned(
            booking_id=booking_id, from_state="booked", to_state="cancelled", transition="cancel", actor="staff:ann",
            booking=BookingSnapshot(booking_id=booking_id, customer_id=customer.customer_id, service="mätarbyte",
                                    starts_at=at + timedelta(days=3), ends_at=at + timedelta(days=3, hours=1),
                                    state="cancelled", version=1)),
        "reminder.due": lambda: ReminderDue(timer_key=f"{owner}:{booking_id}:reminder", due_at=at, fired_at=at, lateness_ms=3,
                                            payload={"booking_id": str(booking_id), "kind": "reminder"}),
        "reply.received": lambda: ReplyReceived(reply_id=u(), channel="sms", sender=customer.phone or "+46701234567",
                                                recipient="+46700000001", text="QQQQQQQQ OK", received_at=at, provider="46elks"),
        "sale.recorded": lambda: TillSaleRecorded(sale_id=f"till-{u()}", lines=[SaleLine(article_number="A-100")],
                                                  customer_number="K-1001", sold_at=at),
        "tenant.updated": lambda: TenantUpdated(tenant_id=tenant_id, name="Poison AB", time_zone="Europe/Stockholm", language="sv"),
        "timer.cancel": lambda: CancelTimer(timer_key=f"booking:{booking_id}:reminder"),
        "timer.cancel-prefix": lambda: CancelTimersWithPrefix(prefix=f"booking:{booking_id}:"),
        "timer.set": lambda: SetTimer(timer_key=f"booking:{booking_id}:reminder", due_at=at + timedelta(days=30),
                                      payload={"booking_id": str(booking_id), "kind": "reminder"}),
    }
    return builders[message_type]()


def types_on(topic: str) -> list[str]:
    """Every message type the contracts put on the topic."""
    return sorted(name for name, model in message_types().items() if model.topic == topic)


@dataclass(frozen=True)
class Record:
    """One record to publish, and what each service consuming its topic must do with it."""

    id: str
    topic: str
    kind: str  # undecodable, oversized, invalid, unknown-type, unknown-tenant, valid
    value: bytes
    key: bytes
    headers: list[tuple[str, bytes]]
    message_type: str | None = None
    event_id: str | None = None
    owner: str | None = None  # for a reminder: the service owning its timer key

    def __repr__(self) -> str:
        return f"<{self.kind} {self.message_type or ''} on {self.topic} #{self.id} ({len(self.value)} bytes)>"


@dataclass(frozen=True)
class Verdict:
    """What one service must do with one poison record: dead-letter it with `reason` (when
    `required`), or never dead-letter it (reason None), or either, but then with `reason`."""

    reason: str | None
    required: bool = True


@dataclass
class Expectations:
    """Per (service, poison id) a verdict; per (service, event id) the valid envelopes it must
    handle; and the event ids nobody may handle (unknown types)."""

    dead_letters: dict[tuple[str, str], Verdict] = field(default_factory=dict)
    handled: dict[tuple[str, str], Record] = field(default_factory=dict)
    ignored: set[str] = field(default_factory=set)


def _envelope_dict(message_type: str, payload: dict[str, Any], tenant_id: str, key: str, event_id: str) -> dict[str, Any]:
    return {"event_id": event_id, "type": message_type, "version": 1, "tenant_id": tenant_id,
            "occurred_at": datetime.now(UTC).isoformat(), "correlation_id": event_id, "causation_id": None,
            "key": key, "payload": payload}


def _wrong_type(value: Any, rng: random.Random) -> Any:
    if isinstance(value, dict):
        return "not an object"
    if isinstance(value, list):
        return {"not": "a list"}
    if isinstance(value, bool):
        return "perhaps"
    if isinstance(value, int | float):
        return "many"
    return rng.choice([{"not": "text"}, ["a", "list"]])


class PoisonMaker:
    """Builds the records for one topic: `malformed` poison records interleaved with `valid`
    valid envelopes of the known tenant."""

    def __init__(self, rng: random.Random, tenant_id: str) -> None:
        self.rng = rng
        self.tenant_id = tenant_id
        self.counter = 0

    def _id(self) -> str:
        self.counter += 1
        return f"{self.counter:06d}-{self.rng.getrandbits(32):08x}"

    def _record(self, topic: str, kind: str, value: bytes, *, message_type: str | None = None, event_id: str | None = None,
                owner: str | None = None, key: str | None = None) -> Record:
        pid = self._id()
        headers = [("poison-id", pid.encode()), ("poison-kind", kind.encode())]
        if event_id:
            headers.append(("event-id", event_id.encode()))
        return Record(pid, topic, kind, value, (key or f"poison:{pid}").encode(), headers, message_type, event_id, owner)

    def envelope_level(self, topic: str, n: int) -> Record:
        """Not a bookflow envelope, in one of many ways."""
        rng, kind = self.rng, n % 9
        good = _envelope_dict("booking.created", {"booking_id": str(uuid.uuid4())}, self.tenant_id, "booking:x", str(uuid.uuid4()))
        if kind == 0:
            value = bytes(rng.getrandbits(8) for _ in range(rng.randrange(1, 200)))  # binary junk
        elif kind == 1:
            text = json.dumps(good)
            value = text[: rng.randrange(1, len(text) - 1)].encode()  # JSON cut short
        elif kind == 2:
            value = rng.choice([b"[1, 2, 3]", b'"just a string"', b"null", b"42", b"true", b"{}", b""])
        elif kind == 3:
            value = b"{'event_id': 'single quotes are not JSON'}"
        elif kind in (4, 5):
            bad = dict(good)
            field_name, wrong = rng.choice([("event_id", 12345), ("event_id", "not-a-uuid"), ("occurred_at", "yesterday"),
                                            ("occurred_at", "2026-01-01T00:00:00"), ("payload", "a string"), ("payload", [1, 2]),
                                            ("version", 0), ("version", "two"), ("tenant_id", ""), ("tenant_id", 7),
                                            ("type", None), ("key", ""), ("correlation_id", {"a": 1})])
            bad[field_name] = wrong
            value = json.dumps(bad).encode()
        else:
            bad = dict(good)
            del bad[rng.choice(["event_id", "type", "tenant_id", "occurred_at", "correlation_id", "key", "payload"])]
            value = json.dumps(bad).encode()
        return self._record(topic, "undecodable", value)

    def oversized(self, topic: str, as_json: bool) -> Record:
        """A record over 1 MiB: junk, or an envelope whose payload is a 1.2 MiB string."""
        size = 1_250_000
        if as_json:
            env = _envelope_dict("booking.created", "x" * size, self.tenant_id, "booking:x", str(uuid.uuid4()))  # type: ignore[arg-type]
            value = json.dumps(env).encode()
        else:
            value = self.rng.randbytes(size)
        return self._record(topic, "oversized", value)

    def payload_level(self, topic: str, message_type: str, owner: str) -> Record:
        """A known type whose payload lacks a required field or has one of the wrong type."""
        message = valid_message(message_type, self.tenant_id, self.rng, owner=owner)
        payload = message.model_dump(mode="json")
        required = [name for name, info in type(message).model_fields.items() if info.is_required()]
        name = self.rng.choice(required)
        if self.rng.random() < 0.5:
            del payload[name]
        else:
            payload[name] = _wrong_type(payload[name], self.rng)
        event_id = str(uuid.uuid4())
        value = json.dumps(_envelope_dict(message_type, payload, self.tenant_id, message.ordering_key(), event_id)).encode()
        return self._record(topic, "invalid", value, message_type=message_type, event_id=event_id, owner=owner)

    def unknown_type(self, topic: str) -> Record:
        event_id = str(uuid.uuid4())
        name = self.rng.choice(["campaign.nonsense", "booking.exploded", "timer.teleport", "x"])
        value = json.dumps(_envelope_dict(name, {"anything": [1, 2, 3]}, self.tenant_id, "booking:y", event_id)).encode()
        return self._record(topic, "unknown-type", value, message_type=name, event_id=event_id)

    def _envelope_record(self, topic: str, kind: str, message: Message, tenant_id: str, owner: str) -> Record:
        env = Envelope.wrap(message, tenant_id=tenant_id, occurred_at=datetime.now(UTC))
        return self._record(topic, kind, encode(env), message_type=env.type, event_id=str(env.event_id), owner=owner,
                            key=env.key)

    def unknown_tenant(self, topic: str, message_type: str, owner: str) -> Record:
        ghost = f"ghost-{self.rng.getrandbits(40):010x}"
        message = valid_message(message_type, ghost, self.rng, owner=owner)
        return self._envelope_record(topic, "unknown-tenant", message, ghost, owner)

    def valid(self, topic: str, message_type: str, owner: str) -> Record:
        return self._envelope_record(topic, "valid", valid_message(message_type, self.tenant_id, self.rng, owner=owner),
                                     self.tenant_id, owner)

    def topic_records(self, topic: str, *, malformed: int, valid: int) -> list[Record]:
        """`malformed` poison records of every kind, with `valid` valid ones spread among them."""
        kinds = types_on(topic)
        owners = sorted(set(TIMER_OWNERS)) if topic == topics.REMINDER_DUE else ["booking"]
        poison: list[Record] = [self.oversized(topic, as_json=False), self.oversized(topic, as_json=True)]
        per_type = max(1, (malformed // 3) // max(1, len(kinds)))
        for message_type in kinds:
            for i in range(per_type):
                poison.append(self.payload_level(topic, message_type, owners[i % len(owners)]))
        ghosts = 0 if topic == topics.TENANT_UPDATED else max(1, (malformed // 10) // max(1, len(kinds)))
        for message_type in kinds:
            for i in range(ghosts):
                poison.append(self.unknown_tenant(topic, message_type, owners[i % len(owners)]))
        for _ in range(malformed // 20):
            poison.append(self.unknown_type(topic))
        n = 0
        while len(poison) < malformed:
            poison.append(self.envelope_level(topic, n))
            n += 1
        self.rng.shuffle(poison)
        goods = [self.valid(topic, kinds[i % len(kinds)], owners[i % len(owners)]) for i in range(valid)]
        out: list[Record] = []
        step = max(1, len(poison) // max(1, valid))
        for i, record in enumerate(poison):
            if i % step == 0 and goods:
                out.append(goods.pop(0))
            out.append(record)
        return out + goods


def expectations(records: list[Record], handles: dict[str, dict[str, set[str]]]) -> Expectations:
    """What each service must do with each record. `handles`: service -> topic -> the message
    types it handles there (from its AsyncAPI document)."""
    aware = tenant_aware()
    out = Expectations()
    for r in records:
        if r.kind == "unknown-type":
            out.ignored.add(r.event_id)  # type: ignore[arg-type]
        for service in topics.CONSUMED_BY[r.topic]:
            handled = r.message_type in handles.get(service, {}).get(r.topic, set())
            if r.kind == "valid":
                if handled:
                    out.handled[(service, r.event_id)] = r  # type: ignore[index]
                continue
            if r.kind in ("undecodable", "oversized"):
                verdict = Verdict("undecodable")
            elif r.kind == "invalid":
                verdict = Verdict("invalid" if handled else None)  # the runtime ignores types a consumer does not handle
            elif r.kind == "unknown-type":
                verdict = Verdict(None)  # nobody's business: ignored by every consumer, never dead-lettered
            else:  # unknown tenant
                mine = r.topic != topics.REMINDER_DUE or TIMER_OWNERS.get(r.owner or "") == service
                if not (handled and mine):
                    verdict = Verdict(None)  # not this consumer's business at all
                elif service in aware:
                    verdict = Verdict("unknown-tenant")
                else:
                    verdict = Verdict("unknown-tenant", required=False)  # keeps no tenants: cannot tell, may pass it on
            out.dead_letters[(service, r.id)] = verdict
    return out


# --- reading what the consumers did -----------------------------------------------------------


async def consumed_types(system: Isolated, client: httpx.AsyncClient) -> dict[str, dict[str, set[str]]]:
    """service -> topic -> message types it handles there, from each service's AsyncAPI document."""
    out: dict[str, dict[str, set[str]]] = {}
    for service in SERVICES:
        answer = await call(client, "GET", f"{system.url(service)}/asyncapi.json")
        assert answer is not None and answer.status_code == 200, f"{service} serves no AsyncAPI document"
        doc = answer.json()
        by_topic: dict[str, set[str]] = defaultdict(set)
        for operation in doc["operations"].values():
            if operation["action"] != "receive":
                continue
            channel = doc["channels"][operation["channel"]["$ref"].rsplit("/", 1)[-1]]
            for ref in operation["messages"]:
                name = ref["$ref"].rsplit("/", 1)[-1]
                by_topic[channel["address"]].add(doc["components"]["messages"][name]["name"])
        out[service] = dict(by_topic)
    return out


async def publish(bootstrap_servers: str, records: list[Record]) -> None:
    """Publish in order, with a producer that allows records over 1 MiB (as a careless or hostile
    producer might)."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap_servers, enable_idempotence=False, linger_ms=20,
                                max_request_size=4 * 1024 * 1024, max_batch_size=256 * 1024, request_timeout_ms=30000)
    await producer.start()
    try:
        pending = []
        for r in records:
            pending.append(await producer.send(r.topic, r.value, key=r.key, headers=r.headers))
            if len(pending) >= 2000:
                await asyncio.gather(*pending)
                pending = []
        await asyncio.gather(*pending)
    finally:
        await producer.stop()


async def lags(bootstrap_servers: str) -> dict[tuple[str, str], int]:
    """(group, topic) -> lag, from the high-water marks fetches report (as `bookflow topics`)."""
    return {(g.group, row.topic): g.lag for row in await ops.topic_report(bootstrap_servers) for g in row.groups}


async def inbox_rows(system: Isolated, service: str, event_ids: list[str]) -> set[str]:
    conn = await asyncpg.connect(system.postgres.url(f"{system.stack.database_prefix}{service}", "postgresql"))
    try:
        rows = await conn.fetch("SELECT event_id FROM inbox WHERE consumer LIKE $1 AND event_id = ANY($2::uuid[])",
                                f"{service}.%", event_ids)
    finally:
        await conn.close()
    return {str(r["event_id"]) for r in rows}


def header(record, name: str) -> str | None:  # noqa: ANN001
    for key, value in record.headers or ():
        if key == name:
            return value.decode(errors="replace")
    return None


async def dead_letters(kafka: Kafka, by_event: dict[str, Record], poison_ids: set[str]) -> dict[tuple[str, str], list[str]]:
    """(service, poison id) -> the reasons of its dead letters of that record."""
    out: dict[tuple[str, str], list[str]] = defaultdict(list)
    async with kafka.reader(topics.DEAD_LETTER) as reader:
        last, since = -1, time.monotonic()
        while time.monotonic() - since < 2.0:
            n = len(await reader.poll())
            if n != last:
                last, since = n, time.monotonic()
        for record in reader.records:
            pid = header(record, "poison-id")
            key = (record.key or b"").decode(errors="replace")
            if pid is None and key.startswith("poison:"):
                pid = key.removeprefix("poison:")
            if pid is None:
                event_id = header(record, "event-id")
                if event_id is None:
                    try:
                        event_id = str(Envelope.model_validate_json(record.value).event_id)
                    except Exception:  # noqa: BLE001 (not ours)
                        event_id = None
                found = by_event.get(event_id or "")
                pid = found.id if found else None
            if pid is None or pid not in poison_ids:
                continue
            service = (header(record, "dead-letter-consumer") or "?").split(".", 1)[0]
            out[(service, pid)].append(header(record, "dead-letter-reason") or "")
    return out


async def wait_for_lag_zero(bootstrap_servers: str, *, within: float) -> dict[tuple[str, str], int]:
    """Wait until every consumer group has read everything on every topic it consumes; the
    groups still behind when time runs out."""
    deadline = time.monotonic() + within
    while True:
        behind = {k: v for k, v in (await lags(bootstrap_servers)).items() if v > 0}
        if not behind or time.monotonic() > deadline:
            return behind
        await asyncio.sleep(2)
