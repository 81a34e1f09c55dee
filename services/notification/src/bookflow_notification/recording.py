"""Recording what became of a message: its status, a line in its history, and the status event on
`notification.status`, in the caller's transaction. The dispatcher's third step (a round's
outcomes: sent, retry later, next provider, next channel, failed) and the handlers of delivery
reports and withdrawals all record through here."""

from __future__ import annotations

import logging
from datetime import datetime
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from bookflow_contracts import Envelope, NotificationStatusChanged
from bookflow_notification import domain, privacy, storage
from bookflow_notification.channels import Accepted, SendFailed
from bookflow_notification.domain import DeliveryReport, Message
from bookflow_runtime import context, outbox
from bookflow_runtime.database import after_commit
from bookflow_runtime.loop import Wakeup

_log = logging.getLogger(__name__)

queued = Wakeup()
"""Woken after a commit that queued messages for sending; the dispatcher of this process rests on it."""


def status_changed(message: Message, status: str, at: datetime, reason: str | None = None, *,
                   cost: Decimal | None = None, provider: str | None = None) -> NotificationStatusChanged:
    """The `notification.status` event of a message (`provider`: who carried it, where the
    message does not say yet)."""
    return NotificationStatusChanged(
        message_id=message.id, idempotency_key=message.idempotency_key, booking_id=message.booking_id,
        customer_id=message.customer_id, channel=message.current_channel, status=status, reason=reason, at=at,
        template_key=message.template_key, provider=provider or message.provider, segments=message.segments, cost=cost,
        currency=message.currency if cost is not None else None, payer=message.payer if cost is not None else None,
        regarding=message.regarding,
    )


async def announce(session: AsyncSession, message: Message, status: str, at: datetime, reason: str | None = None,
                   cost: Decimal | None = None) -> None:
    """Record a status in the message's history and tell other services on `notification.status`."""
    await storage.add_event(session, message.id, status, at, reason)
    await outbox.put(session, status_changed(message, status, at, reason, cost=cost), tenant_id=message.tenant_id)


async def fail(session: AsyncSession, message: Message, reason: str, at: datetime) -> None:
    """The message fails for good, whatever channels are left (its purpose has passed, say)."""
    await storage.update_message(session, message.id, status="failed", reason=reason, failed_at=at, lease_until=None)
    await announce(session, message, "failed", at, reason)
    _log.warning("message %s to customer %s failed: %s", message.id, message.customer_id, privacy.redact(reason))


def outcome_unknown(message: Message) -> str:
    """Why a message handed to its channel without a recorded answer fails: the service stopped
    meanwhile, so it may have gone out or not; it is not sent again so that the customer gets no
    second message (providers take no idempotency key for SMS)."""
    return (f"outcome unknown: the service stopped between handing the message to {message.provider or message.channel} "
            "and recording the answer; not sent again so that the customer gets no second message")


async def fall_back_or_fail(session: AsyncSession, message: Message, reason: str, at: datetime) -> str:
    """A channel finally failed: queue the request's next channel if it has one, else fail."""
    if message.channel_index + 1 < len(message.channels):
        await storage.update_message(
            session, message.id, status="queued", channel_index=message.channel_index + 1, provider_index=0,
            attempts=0, failures=0, retry_until=None, not_before=at, lease_until=None, provider=None, provider_message_id=None,
        )
        await storage.add_event(session, message.id, "queued", at, f"{message.current_channel} failed ({reason}); trying the next channel")
        after_commit(session, queued.wake)
        return "queued"
    await fail(session, message, reason, at)
    return "failed"


async def withdraw(session: AsyncSession, message: Message, reason: str, at: datetime) -> None:
    """Tell that a message which had not gone out was withdrawn (storage already marked it)."""
    await announce(session, message, "withdrawn", at, reason)
    _log.info("%s %s withdrawn: %s", message.template_key, message.id, privacy.redact(reason))


async def apply_report(session: AsyncSession, message: Message, report: DeliveryReport) -> str:
    """Move the message forward by a provider's report: `applied` or `unchanged`. Reports come
    again and out of order: one that does not move the message forward changes nothing.
    Delivered SMS are billed."""
    if not domain.report_moves(message.status, report.status):
        return "unchanged"
    if report.status == "failed":
        await fall_back_or_fail(session, message, report.reason or f"{report.provider} reported the message failed", report.at)
        return "applied"
    cost = None
    if report.status == "delivered":
        values = {"status": "delivered", "delivered_at": report.at, "lease_until": None}
        if message.channel == "sms" and message.price_per_segment is not None:
            cost = domain.cost(message.segments or 1, message.price_per_segment)
            values |= {"billed_at": report.at, "cost": cost}
    else:
        values = {"status": "sent", "sent_at": message.sent_at or report.at}
    await storage.update_message(session, message.id, **values)
    await announce(session, message, report.status, report.at, cost=cost)
    return "applied"


async def record_failure(session: AsyncSession, message: Message, provider_count: int, failure: SendFailed,
                         policy: domain.RetryPolicy, now: datetime) -> None:
    """A channel did not take a claimed message: retry later, try the next provider, or let the
    channel fail (the next channel, or the message fails with the reason)."""
    retry_until = message.retry_until or policy.deadline(now, message.valid_until)
    failures = message.failures + 1
    decision = domain.after_failure(
        attempts=message.attempts + 1, failures=failures, provider_index=message.provider_index, provider_count=provider_count,
        retryable=failure.retryable, policy=policy, now=now, retry_until=retry_until,
    )
    who = message.provider or message.current_channel
    if isinstance(decision, domain.RetryLater):
        await storage.update_message(session, message.id, status="queued", attempts=decision.attempts, failures=failures,
                                     provider_index=decision.provider_index, retry_until=retry_until, not_before=decision.at,
                                     lease_until=None)
        await storage.add_event(session, message.id, "queued", now, f"{who} failed: {failure.reason}; retry at {decision.at.isoformat()}")
        _log.warning("%s %s: %s failed (%s), retry %d at %s", message.template_key, message.id, who,
                     privacy.redact(failure.reason), failures, decision.at.isoformat())
    elif isinstance(decision, domain.NextProvider):
        await storage.update_message(session, message.id, status="queued", attempts=0, failures=failures, retry_until=retry_until,
                                     provider_index=decision.provider_index, not_before=now, lease_until=None)
        await storage.add_event(session, message.id, "queued", now, f"{who} failed: {failure.reason}; trying the next provider")
        _log.warning("%s %s: %s failed (%s), next provider", message.template_key, message.id, who, privacy.redact(failure.reason))
        after_commit(session, queued.wake)
    else:
        reason = failure.reason if decision.gave_up is None else f"{failure.reason}; {decision.gave_up}"
        await fall_back_or_fail(session, message, reason, now)


class Recording:
    """The accepted messages of a round, stored with a handful of statements instead of a few
    per message: most of a round's outcomes are these."""

    def __init__(self) -> None:
        self.sent: list[storage.Sent] = []
        self.sandbox: list[dict] = []
        self.events: list[dict] = []
        self.envelopes: list[tuple[Envelope, str]] = []

    def accepted(self, message: Message, outcome: Accepted, now: datetime) -> None:
        status = "delivered" if outcome.delivered else "sent"
        billed = outcome.delivered and message.channel == "sms" and message.price_per_segment is not None
        cost = domain.cost(message.segments or 1, message.price_per_segment) if billed else None  # type: ignore[arg-type]
        self.sent.append(storage.Sent(message, status, outcome.provider, outcome.provider_message_id, now, outcome.letter_path, cost))
        if outcome.sandbox:
            self.sandbox.append({"message_id": message.id, "tenant_id": message.tenant_id, "channel": message.channel,
                                 "recipient": message.recipient, "subject": message.subject, "body": message.body})
        self.events.append({"message_id": message.id, "status": "sent", "at": now, "detail": f"by {outcome.provider}"})
        if outcome.delivered:
            self.events.append({"message_id": message.id, "status": "delivered", "at": now, "detail": None})
        changed = status_changed(message, status, now, cost=cost, provider=outcome.provider)
        self.envelopes.append((outbox.envelope_for(changed, tenant_id=message.tenant_id), changed.topic))
        _log.info("sent %s %s by %s (%s) to customer %s", message.template_key, message.id, message.channel, outcome.provider,
                  message.customer_id)

    async def store(self, session: AsyncSession) -> None:
        await storage.record_sent(session, self.sent)
        await storage.add_sandbox_messages(session, self.sandbox)
        await storage.add_events(session, self.events)
        await outbox.put_many(session, self.envelopes)
        await self._apply_early_reports(session)

    async def _apply_early_reports(self, session: AsyncSession) -> None:
        """Reports the provider sent before this round recorded its answer (see handlers.take_delivery_report)."""
        keys = [(s.provider, s.provider_message_id) for s in self.sent if not s.status == "delivered"]
        for tenant_id, report in await storage.take_early_reports(session, keys):
            message = await storage.message_by_provider_id(session, report.provider, report.provider_message_id)
            if message is not None and message.tenant_id == tenant_id:
                with context.conversation(message.correlation_id, tenant_id=tenant_id):
                    await apply_report(session, message, report)
