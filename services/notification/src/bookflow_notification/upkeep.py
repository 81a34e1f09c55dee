"""Upkeep between the dispatcher's rounds (at most once per `dispatch_poll_seconds` in each
process): messages a stopped process left `sending`, messages waiting for their tenant's
settings, and forgetting what is no longer needed.

A request for a tenant this service has not heard of waits (`waiting`) rather than going out
with defaults a customer would see. When `tenant.updated` comes, its handler queues them at once;
this sweep catches any it missed. When the tenants consumers of every live process have read
everything their topic held at an instant after the request came in (plus a slack for clocks)
and the tenant is still unknown, there is no such tenant: the message fails with "unknown
tenant" and the request goes to the dead-letter topic with reason `unknown-tenant`. The dead
letter is written through the outbox, in the transaction that fails the message, so the two
cannot part: a crash leaves both or neither, and the relay publishes it with the runtime's
dead-letter headers (the consumed record itself is long gone, so `kafka.dead_letter` has
nothing to send).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from bookflow_contracts import Envelope, SendNotification, topics
from bookflow_notification import domain, recording, storage
from bookflow_notification.domain import Message
from bookflow_notification.settings import NotificationSettings
from bookflow_runtime import context
from bookflow_runtime.database import after_commit

_log = logging.getLogger(__name__)

UNKNOWN_TENANT = "unknown tenant"
LEASE_CHECK = timedelta(seconds=10)
FORGET_CHECK = timedelta(hours=1)


def progress_alive(settings: NotificationSettings) -> timedelta:
    """How recently a process must have noted its progress to count as alive (it notes it once
    per `dispatch_poll_seconds`)."""
    return max(timedelta(seconds=10), 5 * timedelta(seconds=settings.dispatch_poll_seconds))


class Upkeep:
    def __init__(self, settings: NotificationSettings, tenants_caught_up: Callable[[], datetime | None],
                 withdrawals_caught_up: Callable[[], datetime | None] = lambda: None) -> None:
        self.settings = settings
        self.tenants_caught_up = tenants_caught_up  # when this process's tenants consumer last had read all it holds
        self.withdrawals_caught_up = withdrawals_caught_up  # the same for its withdrawals consumer
        self.process_id = str(uuid.uuid4())
        self._every = timedelta(seconds=settings.dispatch_poll_seconds)
        self._last = self._last_leases = self._last_forget = datetime.min.replace(tzinfo=UTC)

    async def run(self, session: AsyncSession, now: datetime) -> None:
        """One sweep, unless one ran less than a poll ago."""
        real_now = datetime.now(UTC)  # bookkeeping between processes goes by the real clock, not the dispatcher's
        if real_now - self._last < self._every:
            return
        self._last = real_now
        await storage.note_progress(session, self.process_id, self.tenants_caught_up(), self.withdrawals_caught_up())
        if now - self._last_leases >= LEASE_CHECK or now < self._last_leases:
            self._last_leases = now
            await self._give_up_expired_leases(session, now)
        await self._waiting_for_tenants(session, now)
        if real_now - self._last_forget >= FORGET_CHECK:
            self._last_forget = real_now
            await storage.forget_early_reports(session, real_now - timedelta(days=1))
            await storage.forget_tokens(session, "mailgun", real_now - timedelta(hours=1))
            await storage.forget_processes(session, real_now - timedelta(hours=1))

    async def withdrawals_behind(self, session: AsyncSession) -> str | None:
        """Why the withdrawals consumers are behind (a withdrawal may be on the topic, not yet
        read), or None: this process's has read everything within
        `withdrawals_behind_seconds`, and every other live process's had, as they last noted."""
        real_now = datetime.now(UTC)
        allowed = timedelta(seconds=self.settings.withdrawals_behind_seconds)
        own = self.withdrawals_caught_up()
        if own is None:
            return "this process's withdrawals consumer has not read its partitions to the end yet"
        if real_now - own > allowed:
            return f"this process's withdrawals consumer is {(real_now - own).total_seconds():.1f} s behind"
        caught_up, earliest = await storage.others_withdrawals_caught_up_at(session, self.process_id, progress_alive(self.settings))
        if not caught_up:
            return "another process's withdrawals consumer has not read its partitions to the end yet"
        if earliest is not None and real_now - earliest > allowed + self._every:  # they note it once per poll
            return f"another process's withdrawals consumer is {(real_now - earliest).total_seconds():.1f} s behind"
        return None

    async def _give_up_expired_leases(self, session: AsyncSession, now: datetime) -> None:
        """Messages a stopped process left `sending`: see dispatcher.py on the crash window."""
        for message in await storage.expired_leases(session, now):
            with context.conversation(message.correlation_id, tenant_id=message.tenant_id):
                await recording.fail(session, message, recording.outcome_unknown(message), now)

    async def _waiting_for_tenants(self, session: AsyncSession, now: datetime) -> None:
        waiting = await storage.waiting(session)
        if not waiting:
            return
        known = await storage.known_tenants(session, {m.tenant_id for m in waiting})
        caught_up = await storage.tenants_caught_up_at(session, progress_alive(self.settings))
        slack = timedelta(seconds=self.settings.unknown_tenant_slack_seconds)
        released = set()
        for message in waiting:
            if message.tenant_id in known:
                released.add(message.tenant_id)
            elif domain.tenant_unknown_for_good(max(message.created_at, message.requested_at or message.created_at), caught_up, slack):
                with context.conversation(message.correlation_id, tenant_id=message.tenant_id):
                    await self._refuse(session, message, now)
        for tenant_id in released:
            await storage.release_waiting(session, tenant_id, now)
        if released:
            after_commit(session, recording.queued.wake)

    async def _refuse(self, session: AsyncSession, message: Message, now: datetime) -> None:
        """No such tenant: nothing is ever sent for it; the request goes to the dead letters."""
        await recording.fail(session, message, UNKNOWN_TENANT, now)
        await storage.dead_letter(
            session, request_envelope(message), consumer=f"{self.settings.service_name}.requests",
            original_topic=topics.NOTIFICATION_REQUESTS, at=now,
            reason=f"unknown-tenant: no tenant {message.tenant_id} (no tenant.updated for it by the time the tenants topic was read to its end)",
        )
        _log.error("request %s for unknown tenant %s dead-lettered", message.idempotency_key, message.tenant_id)


def request_envelope(message: Message) -> Envelope:
    """The request a message was made from, in its envelope as it came (same event id)."""
    request = SendNotification(
        idempotency_key=message.idempotency_key, customer=message.customer, channels=message.channels,
        template_key=message.template_key, data=message.data, booking_id=message.booking_id, purpose=message.purpose,  # type: ignore[arg-type]
        regarding=message.regarding, regarding_version=message.regarding_version, valid_until=message.valid_until,
    )
    return Envelope.wrap(request, tenant_id=message.tenant_id, occurred_at=message.requested_at or message.created_at,
                         correlation_id=message.correlation_id, causation_id=message.causation_id, event_id=message.request_event_id)
