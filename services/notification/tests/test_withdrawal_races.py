"""Found by the fault campaign (issue 9.1): a withdrawal must stop a message however it meets the
dispatcher. One that comes while the provider is failing the message's send (a withdrawal recalls
no message being handed over) stops its retry; a withdrawal not yet read by the withdrawals
consumer holds every message it could stop; and the answers of a send are
recorded through a database outage, not lost to "outcome unknown"."""
from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from bookflow_contracts import WithdrawNotifications, booking_key
from bookflow_devstack.testing import envelope, wait_until

NO_QUIET_HOURS = {"quiet_hours_start": "00:00", "quiet_hours_end": "00:00"}  # the tests run at any hour


def withdrawal(booking_id, before_version: int) -> WithdrawNotifications:  # noqa: ANN001
    return WithdrawNotifications(regarding=booking_key(booking_id), before_version=before_version, reason="the booking was confirmed",
                                 booking_id=booking_id)


@pytest.fixture
async def database(settings):
    """A connection of the test's own to the service's database."""
    conn = await asyncpg.connect(settings.database_url.replace("postgresql+asyncpg", "postgresql"))
    yield conn
    await conn.close()


async def _waiting_on_a_lock(database, query_start: str) -> int | None:
    await database.execute("SELECT pg_stat_clear_snapshot()")  # inside a transaction the activity view is read once
    return await database.fetchval(
        "SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database() "
        "AND query LIKE $1 LIMIT 1", f"{query_start}%")


async def _hold_up(database, lock, table: str, publish, runtime, consumer: str, settings) -> None:  # noqa: ANN001
    """Hold a consumer up: lock `table` (in `lock`, a transaction of the test's connection), have
    `publish` put on the topic what the consumer then waits to insert there, and wait until the
    consumer counts as behind."""
    await lock.start()
    await database.execute(f"LOCK TABLE {table} IN EXCLUSIVE MODE")
    await publish()
    await wait_until(lambda: _waiting_on_a_lock(database, f"INSERT INTO {table}"), what=f"the {consumer} consumer to wait for the lock")

    def behind() -> bool:
        caught_up = runtime.caught_up_at(consumer)
        return caught_up is not None and datetime.now(UTC) - caught_up > timedelta(seconds=settings.withdrawals_behind_seconds + 0.5)

    await wait_until(behind, timeout=15, what=f"the {consumer} consumer to be behind")


async def test_a_withdrawal_that_comes_while_the_provider_fails_the_send_stops_the_retry(office, elks, database):
    await office.announce()
    await office.configure(sms_providers=[elks.account("+46766865001")], **NO_QUIET_HOURS)
    number = office.new_phone()
    request = await office.send(phone=number, regarding_version=1, publish=False)
    calls: list[dict] = []

    async def withdrawn_meanwhile(form: dict) -> None:
        if form.get("to") != number:
            return
        calls.append(form)
        if len(calls) > 1:
            return
        # The message is `sending`: the withdrawal reaches no waiting message, it is only remembered.
        await office.kafka.publish_envelope(envelope(withdrawal(request.booking_id, before_version=2), office.id))
        await wait_until(lambda: database.fetchval("SELECT 1 FROM withdrawals WHERE tenant_id = $1", office.id),
                         what="the withdrawal to be handled")
        elks.answers.append(503)  # and then the provider fails the send

    elks.on_call = withdrawn_meanwhile
    try:
        await office.kafka.publish_envelope(envelope(request, office.id))
        message = await office.message_when(request.booking_id, lambda m: m["status"] not in ("queued", "sending"),
                                            "the message to end")
    finally:
        elks.on_call = None
    assert (message["status"], message["reason"]) == ("withdrawn", "the booking was confirmed")
    assert elks.to(number) == []


async def test_no_message_that_a_withdrawal_could_stop_is_sent_while_the_withdrawals_consumer_is_behind(
        office, elks, database, service, settings, clock):
    """The withdrawal is published while the message waits to retry, and its handling is held up
    (a lock on the withdrawals table): the consumer is behind, the retry falls due meanwhile and
    must wait; once the withdrawal is handled, the message is withdrawn and never sent."""
    runtime, _ = service
    await office.announce()
    await office.configure(sms_providers=[elks.account("+46766865002")], **NO_QUIET_HOURS)
    number = office.new_phone()
    request = await office.send(phone=number, regarding_version=1, publish=False)
    lock = database.transaction()
    locked: list[bool] = []

    async def the_consumer_falls_behind(form: dict) -> None:
        if form.get("to") != number or locked:
            return
        locked.append(True)
        await _hold_up(database, lock, "withdrawals",
                       lambda: office.kafka.publish_envelope(envelope(withdrawal(request.booking_id, before_version=2), office.id)),
                       runtime, "withdrawals", settings)
        elks.answers.append(503)  # the retry falls due a moment later, with the withdrawal still queued

    elks.on_call = the_consumer_falls_behind
    try:
        await office.kafka.publish_envelope(envelope(request, office.id))
        retrying = await office.message_when(request.booking_id, lambda m: "retry at" in str(m["history"]),
                                             "the send to fail and wait for its retry")
        [failed] = [h for h in retrying["history"] if "retry at" in (h["detail"] or "")]
        retry_at = datetime.fromisoformat(failed["detail"].rsplit("retry at ", 1)[1])
        await wait_until(lambda: datetime.now(UTC) > retry_at + timedelta(seconds=1), timeout=10, what="the retry to fall due")
        reads = clock.reads
        await wait_until(lambda: clock.reads >= reads + 5, what="dispatcher rounds after the retry fell due")
        assert elks.to(number) == [], "the retry went out while its withdrawal waited behind it"
    finally:
        elks.on_call = None
        if locked:
            await lock.commit()
    message = await office.message_when(request.booking_id, lambda m: m["status"] == "withdrawn", "the message to be withdrawn")
    assert message["reason"] == "the booking was confirmed"
    assert elks.to(number) == []


async def test_a_request_being_stored_holds_up_no_message_already_stored(office, elks, database, service, settings):
    """The requests consumer is held up storing a request (a lock on the inbox), as in a burst it
    is busy storing thousands, while a message already stored waits to retry. Withdrawals have a
    consumer of their own, which passes requests over and is not behind: the retry goes out
    meanwhile (with one consumer for both it waited for the burst to be stored)."""
    runtime, _ = service
    await office.announce()
    await office.configure(sms_providers=[elks.account("+46766865004")], **NO_QUIET_HOURS)
    first, second = office.new_phone(), office.new_phone()
    request = await office.send(phone=first, regarding_version=1, publish=False)
    held = await office.send(phone=second, regarding_version=1, publish=False)
    lock = database.transaction()
    locked: list[bool] = []

    async def the_requests_consumer_falls_behind(form: dict) -> None:
        if form.get("to") != first or locked:
            return
        locked.append(True)
        await _hold_up(database, lock, "inbox", lambda: office.kafka.publish_envelope(envelope(held, office.id)),
                       runtime, "requests", settings)
        elks.answers.append(503)  # the send fails and retries while the requests consumer is held up

    elks.on_call = the_requests_consumer_falls_behind
    try:
        await office.kafka.publish_envelope(envelope(request, office.id))
        await wait_until(lambda: elks.to(first), timeout=20, what="the retry to go out while the requests consumer is held up")
        assert await office.log(held.booking_id) == [], "the held request was stored before the lock went"
    finally:
        elks.on_call = None
        if locked:
            await lock.commit()
    await office.message_when(held.booking_id, lambda m: m["status"] in ("sent", "delivered"), "the held request to go out")
    assert len(elks.to(first)) == len(elks.to(second)) == 1


async def test_the_answer_of_a_send_is_recorded_through_a_database_outage(office, elks, database):
    """The database connection that records the provider's answer is ended (as a PostgreSQL
    restart ends it): the answer is recorded once the database answers again, not left for the
    lease to end as "outcome unknown"."""
    await office.announce()
    await office.configure(sms_providers=[elks.account("+46766865003")], **NO_QUIET_HOURS)
    number = office.new_phone()
    lock = database.transaction()
    ended: list[int] = []

    async def end_the_recording() -> None:
        try:
            pid = await wait_until(lambda: _waiting_on_a_lock(database, "UPDATE messages"), what="the recording to wait")
            ended.append(await database.fetchval("SELECT pg_terminate_backend($1)", pid) and pid)
        finally:
            await lock.commit()

    async def lock_the_message(form: dict, _provider_id: str) -> None:
        if form.get("to") == number and not ended:
            await lock.start()
            await database.execute("SELECT 1 FROM messages WHERE tenant_id = $1 FOR UPDATE", office.id)
            asyncio.get_running_loop().create_task(end_the_recording())

    elks.before_answer = lock_the_message
    try:
        request = await office.send(phone=number)
        message = await office.message_when(request.booking_id, lambda m: m["status"] in ("sent", "delivered", "failed"),
                                            "the answer to be recorded")
    finally:
        elks.before_answer = None
    assert ended, "the recording's connection was never ended"
    assert message["status"] in ("sent", "delivered"), message
    assert "outcome unknown" not in str(message["history"])
    assert len(elks.to(number)) == 1
