"""What the notification service does, one function per command or event."""
from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from bookflow_contracts import Envelope, NotificationStatusChanged, SendNotification
from bookflow_notification import domain, storage
from bookflow_notification.channels import SandboxChannel
from bookflow_runtime import outbox

_log = logging.getLogger(__name__)
_sandbox = SandboxChannel()


async def send_notification(session: AsyncSession, request: SendNotification, envelope: Envelope) -> None:
    """Store the message, send it by the first usable channel, and report its status.
    A request whose idempotency key the tenant has seen is not sent again."""
    message_id = uuid.uuid4()
    now = datetime.now(UTC)
    chosen = domain.choose_channel(request)
    status, reason, body, channel, to = "queued", None, None, None, None
    if chosen is None:
        status, reason = "failed", "the customer cannot be reached by any channel of the request"
    else:
        channel, to = chosen
        try:
            body = domain.render(request.template_key, request.customer.language or "en",
                                 {**request.data, "customer": request.customer.model_dump(mode="json")})
        except domain.CannotRender as exc:
            status, reason = "failed", str(exc)
    stored = await storage.add_message(
        session, id=message_id, tenant_id=envelope.tenant_id, idempotency_key=request.idempotency_key,
        booking_id=request.booking_id, customer_id=request.customer.customer_id, channel=channel,
        recipient=to, template_key=request.template_key, body=body, status=status, reason=reason,
    )
    if not stored:
        _log.info("request %s was already handled", request.idempotency_key)
        return
    if status == "queued":
        await _sandbox.send(session, tenant_id=envelope.tenant_id, message_id=message_id, channel=channel, recipient=to, body=body)
        await storage.mark_delivered(session, message_id, now)
        status = "delivered"
        _log.info("sent %s %s by %s to customer %s", request.template_key, message_id, channel, request.customer.customer_id)
    else:
        _log.warning("message %s to customer %s failed: %s", message_id, request.customer.customer_id, reason)
    await outbox.put(
        session,
        NotificationStatusChanged(
            message_id=message_id, idempotency_key=request.idempotency_key, booking_id=request.booking_id,
            customer_id=request.customer.customer_id, channel=channel or request.channels[0], status=status,
            reason=reason, at=now,
        ),
        tenant_id=envelope.tenant_id,
    )
