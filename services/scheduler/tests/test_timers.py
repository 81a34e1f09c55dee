"""The scheduler on the real broker and PostgreSQL: timers set, rescheduled and cancelled over
Kafka fire as `reminder.due` at their instant, once."""
from datetime import UTC, datetime, timedelta

import pytest

from bookflow_contracts import CancelTimer, CancelTimersWithPrefix, SetTimer, topics
from bookflow_devstack.testing import envelope, envelope_of, header, new_tenant, running_service
from bookflow_scheduler import MIGRATIONS
from bookflow_scheduler.app import create_app
from bookflow_scheduler.settings import SchedulerSettings


@pytest.fixture(scope="module")
def settings(make_database, kafka) -> SchedulerSettings:
    return SchedulerSettings(database_url=make_database("scheduler", MIGRATIONS), kafka_bootstrap_servers=kafka.bootstrap_servers)


def soon(seconds: float) -> datetime:
    return datetime.now(UTC) + timedelta(seconds=seconds)


async def test_a_timer_fires_reminder_due_at_its_instant_with_its_payload(settings, kafka):
    tenant = new_tenant()
    due_at = soon(1.5)
    async with running_service(create_app, settings) as (_, client):
        set_timer = envelope(SetTimer(timer_key="booking:42:reminder", due_at=due_at, payload={"booking_id": "42"}), tenant, correlation_id="visit-42")
        await kafka.publish_envelope(set_timer)
        async with kafka.reader(topics.REMINDER_DUE) as reader:
            [record] = await reader.wait_for(lambda r: header(r, "tenant-id") == tenant)
        fired = envelope_of(record)
        assert fired.payload["payload"] == {"booking_id": "42"}
        assert fired.key == "booking:42"
        assert (fired.correlation_id, fired.causation_id) == ("visit-42", str(set_timer.event_id))
        fired_at = datetime.fromisoformat(fired.payload["fired_at"])
        assert fired_at >= due_at
        timers = (await client.get("/timers", params={"key": "booking:42:reminder", "tenant_id": tenant})).json()
        assert [t["state"] for t in timers] == ["fired"]


async def test_a_rescheduled_timer_fires_only_at_its_new_instant_and_a_cancelled_one_never(settings, kafka):
    tenant = new_tenant()
    async with running_service(create_app, settings) as (_, client):
        for message in (
            SetTimer(timer_key="booking:1:reminder", due_at=soon(1.0), payload={"n": "old"}),
            SetTimer(timer_key="booking:1:reminder", due_at=soon(2.0), payload={"n": "new"}),
            SetTimer(timer_key="booking:2:reminder", due_at=soon(1.0)),
            CancelTimer(timer_key="booking:2:reminder"),
            SetTimer(timer_key="booking:3:reminder", due_at=soon(1.0)),
            SetTimer(timer_key="booking:3:release", due_at=soon(1.0)),
            CancelTimersWithPrefix(prefix="booking:3:"),
            SetTimer(timer_key="booking:4:reminder", due_at=soon(2.5), payload={"n": "last"}),
        ):
            await kafka.publish_envelope(envelope(message, tenant))
        async with kafka.reader(topics.REMINDER_DUE) as reader:
            await reader.wait_for(lambda r: header(r, "tenant-id") == tenant and b"last" in r.value)
            await reader.poll()
            fired = [envelope_of(r).payload for r in reader.records if header(r, "tenant-id") == tenant]
        assert sorted((f["timer_key"], f["payload"].get("n")) for f in fired) == [
            ("booking:1:reminder", "new"), ("booking:4:reminder", "last"),
        ]
        counts = {(c["state"]): c["count"] for c in (await client.get("/timers/counts")).json() if c["tenant_id"] == tenant}
        assert counts == {"fired": 2, "cancelled": 3}


async def test_a_timer_already_overdue_fires_at_once_marked_late(settings, kafka):
    tenant = new_tenant()
    async with running_service(create_app, settings):
        await kafka.publish_envelope(envelope(SetTimer(timer_key="booking:9:reminder", due_at=soon(-30)), tenant))
        async with kafka.reader(topics.REMINDER_DUE) as reader:
            [record] = await reader.wait_for(lambda r: header(r, "tenant-id") == tenant)
        assert envelope_of(record).payload["lateness_ms"] >= 30_000
