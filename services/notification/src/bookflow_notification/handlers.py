"""What the notification service does when a message, a staff member's change or a provider's
callback arrives, one function each, in the caller's transaction. Sending itself is the
dispatcher's (dispatcher.py)."""
from __future__ import annotations

import asyncio
import json
import logging
import re
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bookflow_contracts import CustomerUpdated, Envelope, ReplyReceived, SendNotification, TenantUpdated, WithdrawNotifications
from bookflow_contracts.templates import TEMPLATES
from bookflow_notification import callbacks, domain, recording, segments, storage, tenancy, templating, upkeep, views
from bookflow_notification.domain import DeliveryReport, InboundMessage, Message
from bookflow_notification.settings import NotificationSettings
from bookflow_notification.tenant_settings import TenantNotificationSettings, check_change, receiving_numbers, with_kept_secrets
from bookflow_runtime import context, outbox
from bookflow_runtime.auth import Forbidden, Staff
from bookflow_runtime.database import after_commit
from bookflow_runtime.errors import BookflowError, Conflict, InvalidInput, NotFound, Undeliverable

_log = logging.getLogger(__name__)

MAX_DATA_BYTES = 64 * 1024
"""The most a request's template values may take: enough for any letter, and a request over it
is a mistake that would otherwise become a message of that size."""


# --- requests and withdrawals ------------------------------------------------------------------


_UNSTORABLE = re.compile(r"[\x00\ud800-\udfff]")  # PostgreSQL stores no NUL; a lone surrogate is no text


def _refusal(request: SendNotification, data: str) -> str | None:
    """Why a request cannot be kept, or None: too large, or text the database cannot store.
    `data` is the request's data as JSON (NUL and surrogates come out escaped: \u0000, \ud800)."""
    if len(data) > MAX_DATA_BYTES:
        return f"the request's data takes {len(data):,} bytes as JSON, more than the {MAX_DATA_BYTES:,} a request may carry"
    c = request.customer
    texts = [c.name, c.phone, c.email, c.customer_number, *((c.address.street, c.address.postcode, c.address.city) if c.address else ())]
    if ("\\u0000" in data or _UNSTORABLE.search("".join(t for t in texts if t))
            or ("\\ud" in data and _UNSTORABLE.search(json.dumps(request.data, ensure_ascii=False)))):  # pairs are one character there
        return "the request holds a NUL character or a lone surrogate"
    return None


def _new_message(request: SendNotification, envelope: Envelope, status: str, reason: str | None) -> Message:
    return Message(
        id=uuid.uuid4(), tenant_id=envelope.tenant_id, idempotency_key=request.idempotency_key, booking_id=request.booking_id,
        customer_id=request.customer.customer_id, customer=request.customer, channels=list(request.channels), channel_index=0,
        data=request.data, purpose=request.purpose, language=request.customer.language, correlation_id=envelope.correlation_id,
        template_key=request.template_key, status=status, reason=reason, not_before=envelope.occurred_at, attempts=0, failures=0,
        provider_index=0, provider=None, provider_message_id=None, channel=None, recipient=None, sender=None, subject=None,
        body=None, segments=None, encoding=None, price_per_segment=None, currency=None, payer=None, sent_at=None,
        regarding=request.regarding, regarding_version=request.regarding_version, valid_until=request.valid_until,
        retry_until=None, requested_at=envelope.occurred_at, created_at=envelope.occurred_at,
        request_event_id=envelope.event_id, causation_id=envelope.causation_id,
    )


async def accept_requests(session: AsyncSession, requests: list[tuple[SendNotification, Envelope]]) -> None:
    """Keep the requests as queued messages, all with one statement; the dispatcher sends them.
    A tenant's second request with the same idempotency key changes nothing. A request for
    something already withdrawn (it came again, or by another partition than the withdrawal)
    is kept withdrawn. A request that is too large or holds a NUL is refused (dead-lettered)."""
    data = [json.dumps(request.data) for request, _ in requests]  # checked here, stored as it is
    for (request, _), text in zip(requests, data, strict=True):
        refusal = _refusal(request, text)
        if refusal:
            raise Undeliverable("invalid", f"{request.idempotency_key}: {refusal}")
    withdrawn = await storage.withdrawals_of(session, {(e.tenant_id, r.regarding) for r, e in requests if r.regarding})
    new = []
    for request, envelope in requests:
        earlier = withdrawn.get((envelope.tenant_id, request.regarding)) if request.regarding else None
        if domain.withdrawn_on_arrival(earlier, request.regarding_version, envelope.occurred_at):
            new.append(_new_message(request, envelope, "withdrawn", earlier.reason))  # type: ignore[union-attr]
        else:
            new.append(_new_message(request, envelope, "queued", None))
    stored = await storage.add_messages(session, new, data)
    now = datetime.now(UTC)
    for message in new:
        if message.id in stored and message.status != "withdrawn":
            continue  # the common case, kept cheap: a batch holds hundreds
        with context.conversation(message.correlation_id, tenant_id=message.tenant_id):
            if message.id not in stored:
                _log.info("request %s was already accepted", message.idempotency_key)
            else:
                await recording.withdraw(session, message, message.reason or "withdrawn", now)
    if stored:
        after_commit(session, recording.queued.wake)


async def withdraw_requests(session: AsyncSession, withdrawal: WithdrawNotifications, envelope: Envelope, *,
                            service: NotificationSettings) -> None:
    """Withdraw the waiting messages the withdrawal names, and remember it for requests that
    arrive later. A message already handed to a provider is not recalled. A withdrawal for a
    tenant that does not exist is dead-lettered (`unknown-tenant`)."""
    await known_tenant(session, envelope, f"withdrawal of {withdrawal.regarding}", service)
    await _withdraw(session, withdrawal, envelope)


async def withdraw_in_order(session: AsyncSession, withdrawal: WithdrawNotifications, envelope: Envelope) -> None:
    """The requests consumer's reading of a withdrawal, in its place among the requests: a
    request behind it is then stored withdrawn even when the withdrawals consumer has not got
    to it yet. One for a tenant not known is the withdrawals consumer's to wait for or refuse."""
    if await storage.known_tenants(session, {envelope.tenant_id}):
        await _withdraw(session, withdrawal, envelope)


async def _withdraw(session: AsyncSession, withdrawal: WithdrawNotifications, envelope: Envelope) -> None:
    now = datetime.now(UTC)
    asked_at = envelope.occurred_at
    for message in await storage.withdraw(session, envelope.tenant_id, withdrawal.regarding, withdrawal.before_version, asked_at,
                                          withdrawal.reason, now):
        await recording.withdraw(session, message, withdrawal.reason, now)
    await storage.remember_withdrawal(session, envelope.tenant_id, withdrawal.regarding, withdrawal.before_version, asked_at,
                                      withdrawal.reason)


# --- what the service keeps of tenants and customers -------------------------------------------

TENANT_CHECK_INTERVAL = 0.25


async def known_tenant(session: AsyncSession, envelope: Envelope, what: str, service: NotificationSettings) -> None:
    """Return once the message's tenant is known; raise Undeliverable (`unknown-tenant`) once the
    tenants consumers of every live process have read their topic past the instant the message
    was taken in (plus the slack for clocks) and the tenant is still unknown. Meanwhile it waits:
    the booking service publishes a tenant's `tenant.updated` before anything about it, but on
    another topic, so the tenant may merely be late. Waiting holds this consumer, which is what
    a message for a tenant not yet known must do (issue 9.4/9.8); only ghost tenants wait."""
    taken_in_at = min(envelope.occurred_at, datetime.now(UTC))  # a clock ahead must not make it wait longer
    slack = timedelta(seconds=service.unknown_tenant_slack_seconds)
    while not await storage.known_tenants(session, {envelope.tenant_id}):
        caught_up = await storage.tenants_caught_up_at(session, upkeep.progress_alive(service))
        if domain.tenant_unknown_for_good(taken_in_at, caught_up, slack):
            raise Undeliverable("unknown-tenant", f"{what} for tenant {envelope.tenant_id!r}, of which no tenant.updated came "
                                                  "by the time the tenants topic was read to its end")
        await asyncio.sleep(TENANT_CHECK_INTERVAL)



async def keep_tenant(session: AsyncSession, event: TenantUpdated, envelope: Envelope, *, letters_root: str) -> None:
    """Keep the tenant's name, zone, language, letter folder and reply number; its messages that
    waited for them go out now."""
    current = (await storage.tenant_for_change(session, envelope.tenant_id)).settings.model_dump(mode="json")
    settings = tenancy.settings_after_event(current, event, letters_root)
    await storage.save_tenant(session, envelope.tenant_id, name=event.name, time_zone=event.time_zone, language=event.language,
                              settings=settings, announced_at=datetime.now(UTC))
    taken = await storage.set_receiving_numbers(
        session, envelope.tenant_id, receiving_numbers(TenantNotificationSettings.model_validate(settings)))
    if taken:
        _log.error("tenant %s names a receiving number another tenant has: its replies go to that tenant", envelope.tenant_id)
    if await storage.release_waiting(session, envelope.tenant_id, datetime.now(UTC)):
        after_commit(session, recording.queued.wake)


async def keep_consent(session: AsyncSession, event: CustomerUpdated, envelope: Envelope, *, service: NotificationSettings) -> None:
    """Keep the customer's marketing consent when the event says it; a customer of a tenant that
    does not exist is dead-lettered (`unknown-tenant`)."""
    await known_tenant(session, envelope, f"customer {event.customer.customer_id}", service)
    if event.marketing_consent is not None:
        await storage.set_consent(session, envelope.tenant_id, event.customer.customer_id, event.marketing_consent)


# --- staff's changes -----------------------------------------------------------------------------


async def save_settings(session: AsyncSession, tenant_id: str, new: TenantNotificationSettings,
                        service: NotificationSettings) -> views.TenantDescription:
    """Set the tenant's notification settings: masked secrets keep the stored ones, a 46elks
    account needs its webhook secret, provider addresses are the providers' own, and a receiving
    number belongs to one tenant."""
    stored = await storage.tenant_for_change(session, tenant_id)
    settings = with_kept_secrets(new, stored.settings)
    check_change(settings, test_addresses=service.test_addresses, sandbox_enabled=bool(service.sandbox_enabled))
    taken = await storage.set_receiving_numbers(session, tenant_id, receiving_numbers(settings))
    if taken:
        raise Conflict(f"{taken} already receives for another tenant")
    await storage.save_tenant(session, tenant_id, settings=settings.model_dump(mode="json"))
    return views.described(replace(stored, settings=settings))


class TemplateInvalid(InvalidInput):
    """A template that cannot be saved; the Problem names the `field` (subject or body), the
    `line` and the `reason`."""

    code = "template-invalid"
    title = "The template cannot be used"


class CannotPreview(InvalidInput):
    code = "cannot-render"
    title = "The template cannot be rendered"


def _known_key(template_key: str) -> None:
    if template_key not in TEMPLATES:
        raise NotFound(f"no template key {template_key!r}")


def _check(template_key: str, **sources: str) -> None:
    for field, source in sources.items():
        try:
            templating.check(template_key, source)
        except templating.TemplateRejected as exc:
            raise TemplateInvalid(f"{field}: {exc}", field=field, line=exc.line, reason=exc.reason,
                                  errors=[{"field": f"body.{field}", "message": str(exc)}]) from exc


async def save_template(session: AsyncSession, tenant_id: str, template_key: str, channel: str, language: str,
                        draft: views.TemplateIn, staff: Staff) -> views.SavedTemplate:
    """Save the tenant's own template; refused with the line and the reason if it is not valid."""
    _known_key(template_key)
    _check(template_key, subject=draft.subject, body=draft.body)
    await storage.save_template(session, tenant_id=tenant_id, template_key=template_key, channel=channel, language=language,
                                subject=draft.subject, body=draft.body, updated_by=staff.subject)
    return views.SavedTemplate(template_key=template_key, channel=channel, language=language, subject=draft.subject, body=draft.body)


async def preview_template(session: AsyncSession, tenant_id: str, template_key: str, channel: str, language: str,
                           draft: views.PreviewIn) -> views.Preview:
    """Render a draft or the current template with example values, in the tenant's zone."""
    _known_key(template_key)
    tenant = await storage.tenant(session, tenant_id)
    saved = await storage.saved_templates(session, tenant_id, template_key)
    subject, body = saved.get((template_key, channel, language)) or templating.default_source(template_key, language)
    subject = draft.subject if draft.subject is not None else subject
    body = draft.body if draft.body is not None else body
    _check(template_key, subject=subject, body=body)
    values = {**templating.sample_values(template_key), **draft.data,
              "customer": draft.data.get("customer") or {"name": "Kim Kund"}, "tenant": tenant.template_values()}
    try:
        rendered = templating.render(subject, body, template_key, values, zone=tenant.zone or "UTC", language=language, channel=channel)
    except templating.CannotRender as exc:
        raise CannotPreview(str(exc)) from exc
    size = segments.measure(rendered.body)
    return views.Preview(subject=rendered.subject, body=rendered.body, segments=size.segments, encoding=size.encoding)


# --- providers' callbacks ------------------------------------------------------------------------


class BadCallback(BookflowError):
    status = 400
    code = "bad-callback"
    title = "The callback cannot be read"


async def _accounts(session: AsyncSession, tenant_id: str, provider: str) -> list[Any]:
    return [a for a in (await storage.tenant(session, tenant_id)).settings.sms_providers if a.provider == provider]


async def _tenant_of(session: AsyncSession, number: str) -> str:
    tenant_id = await storage.tenant_of_number(session, number)
    if tenant_id is None:
        raise NotFound("no tenant receives at that number")
    return tenant_id


async def take_delivery_report(session: AsyncSession, tenant_id: str, report: DeliveryReport) -> None:
    """Move a message forward by its provider's report. A report that comes before this service
    has recorded the provider's answer (the provider is that fast) is kept and applied when the
    answer is recorded (recording.py): never refused."""
    message = await storage.message_by_provider_id(session, report.provider, report.provider_message_id)
    if message is None or message.tenant_id != tenant_id:
        await storage.keep_early_report(session, tenant_id, report)
        return
    with context.conversation(message.correlation_id, tenant_id=tenant_id):
        await recording.apply_report(session, message, report)


async def receive_elks_report(session: AsyncSession, tenant_id: str, secret: str | None, sms_id: str, status: str,
                              delivered: str | None) -> None:
    callbacks.check_elks_secret(await _accounts(session, tenant_id, "46elks"), secret)
    if status not in callbacks.ELKS_STATUS:
        raise BadCallback(f"unknown status {status!r}")
    now = datetime.now(UTC)
    reason = "46elks reported failed" if status == "failed" else None
    await take_delivery_report(session, tenant_id, DeliveryReport(
        "46elks", sms_id, callbacks.ELKS_STATUS[status], callbacks.provider_instant(delivered, now), reason))  # type: ignore[arg-type]


async def receive_elks_sms(session: AsyncSession, secret: str | None, sms_id: str, sender: str, recipient: str, text: str,
                           created: str | None) -> None:
    tenant_id = await _tenant_of(session, recipient)
    callbacks.check_elks_secret(await _accounts(session, tenant_id, "46elks"), secret)
    received_at = callbacks.provider_instant(created, datetime.now(UTC))
    await receive_reply(session, tenant_id, InboundMessage("46elks", sms_id, sender, recipient, text, received_at))


async def receive_twilio_status(session: AsyncSession, tenant_id: str, url: str, form: dict[str, str], signature: str | None,
                                sid: str, status: str, error_code: str | None) -> None:
    callbacks.check_twilio_signature(await _accounts(session, tenant_id, "twilio"), url, form, signature)
    if status not in callbacks.TWILIO_STATUS:
        return  # queued, accepted, sending: nothing new to us
    reported = callbacks.TWILIO_STATUS[status]
    reason = f"twilio: {status}, error {error_code or 'none'}" if reported == "failed" else None
    await take_delivery_report(session, tenant_id, DeliveryReport("twilio", sid, reported, datetime.now(UTC), reason))  # type: ignore[arg-type]


async def receive_twilio_sms(session: AsyncSession, url: str, form: dict[str, str], signature: str | None, sid: str,
                             sender: str, recipient: str, text: str) -> None:
    tenant_id = await _tenant_of(session, recipient)
    callbacks.check_twilio_signature(await _accounts(session, tenant_id, "twilio"), url, form, signature)
    await receive_reply(session, tenant_id, InboundMessage("twilio", sid, sender, recipient, text, datetime.now(UTC)))


async def receive_mailgun_email(session: AsyncSession, tenant_id: str, *, timestamp: str, token: str, signature: str,
                                message_id: str, sender: str, recipient: str | None, text: str) -> None:
    """An e-mail answer forwarded by Mailgun. Its one-time token is remembered for the age
    window: Mailgun retrying the same post changes nothing, and a replay of the token with
    anything else (another Message-Id, sender or text) is refused."""
    inbound = (await storage.tenant(session, tenant_id)).settings.inbound_email
    now = datetime.now(UTC)
    signed_at = callbacks.check_mailgun_signature(inbound.signing_key if inbound else None, timestamp, token, signature, now)
    assert inbound is not None
    digest = callbacks.content_digest(message_id, sender, recipient or "", text)
    seen = await storage.remember_token(session, "mailgun", token, digest, now)
    if seen == "other":
        raise Forbidden("this Mailgun token was used before for another post")
    if seen == "same":
        return
    await receive_reply(session, tenant_id, InboundMessage(
        "mailgun", message_id, sender.strip().lower(), recipient or inbound.address, text.strip(), signed_at, channel="email"))


async def receive_reply(session: AsyncSession, tenant_id: str, reply: InboundMessage, answers_message_id: uuid.UUID | None = None) -> bool:
    """A customer's answer: publish `reply.received` for the flows, and for SMS honour STOP or
    START. False if the provider delivered the same message before (it changes nothing). The
    log says what happened, never who or what they wrote."""
    reply_id = uuid.uuid5(uuid.NAMESPACE_URL, f"bookflow:{reply.provider}:{reply.provider_message_id}")
    if reply.channel == "sms":
        reply = replace(reply, sender=domain.sms_number(reply.sender, None)[0] or reply.sender)  # as STOP lists and sends compare numbers
    if not await storage.add_reply(
        session, id=reply_id, tenant_id=tenant_id, channel=reply.channel, provider=reply.provider,
        provider_message_id=reply.provider_message_id, sender=reply.sender, recipient=reply.recipient, text=reply.text,
        received_at=reply.received_at, answers_message_id=answers_message_id,
    ):
        _log.info("inbound %s %s was already received", reply.provider, reply.provider_message_id)
        return False
    intent = domain.opt_out_intent(reply.text) if reply.channel == "sms" else None
    if intent == "stop":
        await storage.add_opt_out(session, tenant_id, reply.sender, reply.received_at, reply.text)
        _log.info("reply %s asked for no more SMS from tenant %s", reply_id, tenant_id)
    elif intent == "start":
        await storage.remove_opt_out(session, tenant_id, reply.sender)
        _log.info("reply %s asked for SMS from tenant %s again", reply_id, tenant_id)
    await outbox.put(
        session,
        ReplyReceived(
            reply_id=reply_id, channel=reply.channel, sender=reply.sender, recipient=reply.recipient, text=reply.text[:5000],
            received_at=reply.received_at, provider=reply.provider, provider_message_id=reply.provider_message_id,
        ),
        tenant_id=tenant_id,
    )
    return True


# --- the sandbox -------------------------------------------------------------------------------


class CannotAnswer(Conflict):
    code = "cannot-answer"
    title = "This message cannot be answered"


async def answer_as_customer(session: AsyncSession, message_id: uuid.UUID, text: str) -> str:
    """Answer a sandbox SMS or e-mail as its customer would: the provider's inbound path. The
    message's tenant."""
    message = await storage.message(session, message_id)
    if message is None:
        raise NotFound("no such message")
    if message.channel not in ("sms", "email") or not message.recipient:
        raise CannotAnswer("only an SMS or an e-mail can be answered")
    inbound = (await storage.tenant(session, message.tenant_id)).settings.inbound_email
    to = message.sender if message.channel == "sms" else (inbound.address if inbound else None)
    await receive_reply(session, message.tenant_id, InboundMessage(
        provider="sandbox", provider_message_id=str(uuid.uuid4()), sender=message.recipient,
        recipient=to or "sandbox", text=text, received_at=datetime.now(UTC), channel=message.channel,
    ), answers_message_id=message.id)
    return message.tenant_id
