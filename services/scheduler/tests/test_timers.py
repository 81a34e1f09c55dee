"""The scheduler on the real broker and PostgreSQL: timers set, rescheduled and cancelled over
Kafka fire as `reminder.due` at their instant, once."""
from datetime import UTC, datetime, timedelta

import pytest

from bookflow_contracts import CancelTimer, CancelTimersWithPrefix, SetTimer, topics
from bookflow_devstack.testing import OPERATOR, envelope, envelope_of, header, new_tenant, running_service, staff_headers, wait_until
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
        timers = (await client.get("/timers", params={"key": "booking:42:reminder", "tenant_id": tenant}, headers=OPERATOR)).json()
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
        counts = {(c["state"]): c["count"] for c in (await client.get("/timers/counts", headers=OPERATOR)).json() if c["tenant_id"] == tenant}
        assert counts == {"fired": 2, "cancelled": 3}


async def test_a_timer_already_overdue_fires_at_once_marked_late(settings, kafka):
    tenant = new_tenant()
    async with running_service(create_app, settings):
        await kafka.publish_envelope(envelope(SetTimer(timer_key="booking:9:reminder", due_at=soon(-30)), tenant))
        async with kafka.reader(topics.REMINDER_DUE) as reader:
            [record] = await reader.wait_for(lambda r: header(r, "tenant-id") == tenant)
        assert envelope_of(record).payload["lateness_ms"] >= 30_000


async def test_only_operators_look_up_timers_which_hold_every_tenants_keys(settings, kafka):
    tenant = new_tenant()
    async with running_service(create_app, settings) as (_, client):
        await kafka.publish_envelope(envelope(SetTimer(timer_key="booking:7:reminder", due_at=soon(3600)), tenant))
        lookups = [("/timers", {"prefix": "booking:7:", "tenant_id": tenant}), ("/timers/counts", {})]
        for path, params in lookups:
            assert (await client.get(path, params=params)).status_code == 401
            staff = await client.get(path, params=params, headers=staff_headers(tenant, "administrator"))
            assert staff.status_code == 401 and staff.json()["code"] == "unauthorized"
            wrong = await client.get(path, params=params, headers={"Authorization": "Bearer not-the-operator-token"})
            assert wrong.status_code == 401

        async def stored():
            found = await client.get("/timers", params={"prefix": "booking:7:", "tenant_id": tenant}, headers=OPERATOR)
            assert found.status_code == 200, found.text
            return found.json()

        [timer] = await wait_until(stored, what="the timer to be stored")
        assert (timer["timer_key"], timer["state"], timer["generation"]) == ("booking:7:reminder", "pending", 1)


async def test_a_timer_lookup_without_key_or_prefix_or_with_a_nul_is_refused_with_the_reason(settings):
    async with running_service(create_app, settings) as (_, client):
        missing = await client.get("/timers", headers=OPERATOR)
        assert missing.status_code == 422 and "key" in missing.json()["detail"]
        nul = await client.get("/timers", params={"key": "booking:\x00"}, headers=OPERATOR)
        assert nul.status_code == 422 and nul.json()["errors"][0]["field"] == "query.key"
