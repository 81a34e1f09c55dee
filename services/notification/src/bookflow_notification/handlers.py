"""What the notification service does when a message or a provider's callback arrives, one
function each. Sending itself is the dispatcher's (dispatcher.py)."""
from __future__ import annotations

import json
import logging
import uuid
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from bookflow_contracts import (
    CustomerUpdated, Envelope, NotificationStatusChanged, ReplyReceived, SendNotification, TenantNotificationSettings, TenantUpdated,
)
from bookflow_notification import domain, sealing, storage, tenancy
from bookflow_runtime import context, outbox
from bookflow_runtime.database import after_commit
from bookflow_runtime.loop import Wakeup

_log = logging.getLogger(__name__)

queued = Wakeup()
"""Woken when messages are queued for sending; the dispatcher of this process rests on it."""


async def accept_requests(session: AsyncSession, requests: list[tuple[SendNotification, Envelope]]) -> None:
    """Keep the requests as queued messages, all with one statement; the dispatcher sends them.
    A tenant's second request with the same idempotency key changes nothing."""
    rows = [
        {
            "id": uuid.uuid4(), "tenant_id": envelope.tenant_id, "idempotency_key": request.idempotency_key,
            "booking_id": request.booking_id, "customer_id": request.customer.customer_id,
            "customer": request.customer.model_dump_json(), "channels": json.dumps(request.channels),
            "data": json.dumps(request.data), "purpose": request.purpose, "language": request.customer.language,
            "correlation_id": envelope.correlation_id, "template_key": request.template_key, "status": "queued",
            "not_before": envelope.occurred_at,
        }
        for request, envelope in requests
    ]
    stored = await storage.add_messages(session, rows)
    for request, envelope in requests:
        if (envelope.tenant_id, request.idempotency_key) not in stored:
            with context.conversation_of(envelope):
                _log.info("request %s was already accepted", request.idempotency_key)
    if stored:
        after_commit(session, queued.wake)


async def keep_tenant(session: AsyncSession, event: TenantUpdated, envelope: Envelope) -> None:
    """Keep the tenant's name, zone, language, letter folder and reply number."""
    row = await storage.tenant(session, envelope.tenant_id)
    settings = tenancy.settings_after_event(sealing.unseal(row.settings) if row else {}, event)
    await storage.save_tenant(session, envelope.tenant_id, name=event.name, time_zone=event.time_zone,
                              language=event.language, settings=settings)
    taken = await storage.set_receiving_numbers(
        session, envelope.tenant_id, tenancy.receiving_numbers(TenantNotificationSettings.model_validate(settings))
    )
    if taken:
        _log.error("tenant %s names %s as its number, which another tenant has: its replies go to that tenant", envelope.tenant_id, taken)


async def keep_consent(session: AsyncSession, event: CustomerUpdated, envelope: Envelope) -> None:
    """Keep the customer's marketing consent when the event says it."""
    if event.marketing_consent is not None:
        await storage.set_consent(session, envelope.tenant_id, event.customer.customer_id, event.marketing_consent)


# --- status changes --------------------------------------------------------------------------


def status_changed(message: Any, status: str, at: datetime, reason: str | None = None, *,
                   channel: str | None = None, cost: Decimal | None = None) -> NotificationStatusChanged:
    """The `notification.status` event for a message row (or the dispatcher's view of one)."""
    return NotificationStatusChanged(
        message_id=message.id, idempotency_key=message.idempotency_key, booking_id=message.booking_id,
        customer_id=message.customer_id, channel=channel or message.channel or (message.channels or ["sms"])[0],
        status=status, reason=reason, at=at, template_key=message.template_key, provider=message.provider,
        segments=message.segments, cost=cost, currency=message.currency if cost is not None else None,
        payer=message.payer if cost is not None else None,
    )


async def announce(session: AsyncSession, message: sa.Row, status: str, at: datetime, reason: str | None = None,
                   cost: Decimal | None = None) -> None:
    """Record a status in the message's history and tell other services on `notification.status`."""
    await storage.add_event(session, message.id, status, at, reason)
    await outbox.put(session, status_changed(message, status, at, reason, cost=cost), tenant_id=message.tenant_id)


async def fall_back_or_fail(session: AsyncSession, message: sa.Row, reason: str, at: datetime) -> str:
    """A channel finally failed: queue the request's next channel if it has one, else fail."""
    if message.channel_index + 1 < len(message.channels or []):
        await storage.update_message(
            session, message.id, status="queued", channel_index=message.channel_index + 1, provider_index=0,
            attempts=0, not_before=at, lease_until=None, provider=None, provider_message_id=None,
        )
        await storage.add_event(session, message.id, "queued", at, f"{message.channel} failed ({reason}); trying the next channel")
        after_commit(session, queued.wake)
        return "queued"
    await storage.update_message(session, message.id, status="failed", reason=reason, failed_at=at, lease_until=None)
    await announce(session, message, "failed", at, reason)
    _log.warning("message %s to customer %s failed: %s", message.id, message.customer_id, reason)
    return "failed"


@dataclass(frozen=True)
class DeliveryReport:
    provider: str
    provider_message_id: str
    status: Literal["sent", "delivered", "failed"]
    at: datetime
    reason: str | None = None


async def apply_delivery_report(session: AsyncSession, report: DeliveryReport, tenant_id: str) -> Literal["applied", "unchanged", "unknown"]:
    """Move the message forward by a provider's report. Reports come again and out of order: a
    report that does not move the message forward changes nothing. Delivered SMS are billed."""
    message = await storage.message_by_provider_id(session, report.provider, report.provider_message_id)
    if message is None or message.tenant_id != tenant_id:
        return "unknown"
    if not domain.report_moves(message.status, report.status):
        return "unchanged"
    if report.status == "failed":
        await fall_back_or_fail(session, message, report.reason or f"{report.provider} reported the message failed", report.at)
        return "applied"
    values: dict[str, Any] = {"status": report.status}
    if report.status == "delivered":
        values |= {"delivered_at": report.at, "lease_until": None}
        if message.channel == "sms" and message.price_per_segment is not None:
            values |= {"billed_at": report.at, "cost": domain.cost(message.segments or 1, message.price_per_segment)}
    else:
        values["sent_at"] = message.sent_at or report.at
    await storage.update_message(session, message.id, **values)
    await announce(session, message, report.status, report.at, cost=values.get("cost"))
    return "applied"


# --- customers' answers ---------------------------------------------------------------------


@dataclass(frozen=True)
class InboundMessage:
    """A customer's SMS or e-mail as a provider handed it over."""

    provider: str
    provider_message_id: str
    sender: str
    recipient: str
    text: str
    received_at: datetime
    channel: Literal["sms", "email"] = "sms"


async def receive_reply(session: AsyncSession, tenant_id: str, reply: InboundMessage, answers_message_id: uuid.UUID | None = None) -> bool:
    """A customer's answer: publish `reply.received` for the flows, and for SMS honour STOP or
    START. False if the provider delivered the same message before (it changes nothing)."""
    reply_id = uuid.uuid5(uuid.NAMESPACE_URL, f"bookflow:{reply.provider}:{reply.provider_message_id}")
    if reply.channel == "sms":
        reply = replace(reply, sender=domain.sms_number(reply.sender, None)[0] or reply.sender)  # as STOP lists and sends compare numbers
    if not await storage.add_reply(
        session, id=reply_id, tenant_id=tenant_id, channel=reply.channel, provider=reply.provider,
        provider_message_id=reply.provider_message_id, sender=reply.sender, recipient=reply.recipient, text=reply.text,
        received_at=reply.received_at, answers_message_id=answers_message_id,
    ):
        return False
    intent = domain.opt_out_intent(reply.text) if reply.channel == "sms" else None
    if intent == "stop":
        await storage.add_opt_out(session, tenant_id, reply.sender, reply.received_at, reply.text)
        _log.info("%s answered %r: no more SMS from tenant %s", reply.sender, reply.text, tenant_id)
    elif intent == "start":
        await storage.remove_opt_out(session, tenant_id, reply.sender)
        _log.info("%s answered %r: SMS from tenant %s again", reply.sender, reply.text, tenant_id)
    await outbox.put(
        session,
        ReplyReceived(
            reply_id=reply_id, channel=reply.channel, sender=reply.sender, recipient=reply.recipient, text=reply.text,
            received_at=reply.received_at, provider=reply.provider, provider_message_id=reply.provider_message_id,
        ),
        tenant_id=tenant_id,
    )
    return True
