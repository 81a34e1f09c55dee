"""The evening before: N work orders ready for execution, each with its day-before reminder
pending at the scheduler for one instant.

Weeks of planning (orders created, locked, lettered and answered) are not what is measured, so
the orders and their timers are written straight into the booking service's and the scheduler's
tables with COPY, exactly as those services store them: the booking row in `ready-for-execution`
at version 3 (lock, print-letter, accept-reply), and the timer with the payload
`bookflow_booking.domain.timer` gives (`kind`, `booking_id`, `state`, `version`). The tenant, its
settings and its SMS provider (the fake) go through the services' HTTP APIs. Order i's service is
`bench-<i>`, which the appointment reminder's text names, so the fake provider knows which order
each SMS is for. Ten orders per technician."""
from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import asyncpg

ZONE = ZoneInfo("Europe/Stockholm")
PER_TECHNICIAN = 10
READY_VERSION = 3  # lock, print-letter, accept-reply


@dataclass(frozen=True)
class Orders:
    """What was written: the orders' ids in index order, the technicians, and the day they work."""

    tenant_id: str
    booking_ids: list[uuid.UUID]
    technician_ids: list[uuid.UUID]
    day: str


def _dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


async def orders(booking_db: str, tenant_id: str, n: int, instant: datetime) -> Orders:
    """N orders on the day after `instant`'s local day, in the booking service's database."""
    day = instant.astimezone(ZONE).date() + timedelta(days=1)
    first = datetime.combine(day, time(7, 0), tzinfo=ZONE).astimezone(UTC)
    technicians = [uuid.uuid4() for _ in range((n + PER_TECHNICIAN - 1) // PER_TECHNICIAN)]
    ids = [uuid.uuid4() for _ in range(n)]
    customers = [uuid.uuid4() for _ in range(n)]
    conn = await asyncpg.connect(_dsn(booking_db))
    try:
        await conn.copy_records_to_table("technicians", columns=["id", "tenant_id", "name"],
                                         records=[(t, tenant_id, f"Montör {k}") for k, t in enumerate(technicians)])
        await conn.copy_records_to_table(
            "customers", columns=["id", "tenant_id", "name", "phone", "language", "preferred_channel"],
            records=[(c, tenant_id, f"Kund {i}", f"+4670{i:07d}", "sv", "sms") for i, c in enumerate(customers)])
        rows = []
        for i, booking_id in enumerate(ids):
            starts = first + timedelta(minutes=45 * (i % PER_TECHNICIAN))
            rows.append((booking_id, tenant_id, customers[i], f"bench-{i}", starts, starts + timedelta(minutes=40), f"Storgatan {i}",
                         "11122", "Stockholm", "ready-for-execution", "letter", technicians[i // PER_TECHNICIAN], i % PER_TECHNICIAN,
                         f"R{i:07d}", READY_VERSION))
        await conn.copy_records_to_table("bookings", records=rows, columns=[
            "id", "tenant_id", "customer_id", "service", "starts_at", "ends_at", "street", "postcode", "city", "state", "flow",
            "technician_id", "sequence", "booking_code", "version"])
        await conn.execute("ANALYZE")
    finally:
        await conn.close()
    return Orders(tenant_id, ids, technicians, day.isoformat())


async def timers(scheduler_db: str, orders: Orders, instant: datetime) -> None:
    """Each order's day-before reminder, pending for `instant`, as the scheduler keeps timers it was asked to set."""
    conn = await asyncpg.connect(_dsn(scheduler_db))
    try:
        records = [(orders.tenant_id, f"booking:{b}:appointment-reminder", instant,
                    json.dumps({"booking_id": str(b), "kind": "appointment-reminder", "state": "ready-for-execution",
                                "version": READY_VERSION}), "pending", 1) for b in orders.booking_ids]
        await conn.copy_records_to_table("timers", records=records,
                                         columns=["tenant_id", "timer_key", "due_at", "payload", "state", "generation"])
        await conn.execute("ANALYZE timers")
    finally:
        await conn.close()
