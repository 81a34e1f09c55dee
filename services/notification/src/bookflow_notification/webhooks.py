"""Providers' callbacks: delivery reports and inbound SMS from 46elks and Twilio, e-mail answers
forwarded by Mailgun.

Every callback is verified before anything is stored: 46elks callbacks carry the tenant's
webhook secret in their address (46elks signs nothing); Twilio signs each callback in
`X-Twilio-Signature`, base64 HMAC-SHA1 with the account's auth token over the full URL as
Twilio called it followed by every form field's name and value sorted by name
(Twilio's "Webhooks security" documentation); Mailgun signs `timestamp` + `token` with the
domain's webhook signing key (HMAC-SHA256, "Securing webhooks"). A bad secret or signature gets 403 and changes
nothing. Providers retry: the same report or inbound message twice changes nothing the second time.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import logging
from datetime import UTC, datetime, timedelta
from typing import Annotated
from urllib.parse import parse_qsl

from fastapi import APIRouter, Depends, Request, Response

from bookflow_contracts import SmsProviderAccount
from bookflow_notification import handlers, storage, tenancy
from bookflow_runtime.auth import Forbidden
from bookflow_runtime.errors import BookflowError, NotFound
from bookflow_runtime.http import runtime_of
from bookflow_runtime.runtime import ServiceRuntime

_log = logging.getLogger(__name__)
router = APIRouter(prefix="/webhooks", tags=["provider webhooks"])
Runtime = Annotated[ServiceRuntime, Depends(runtime_of)]

ELKS_STATUS = {"sent": "sent", "delivered": "delivered", "failed": "failed"}
TWILIO_STATUS = {"sent": "sent", "delivered": "delivered", "read": "delivered", "undelivered": "failed", "failed": "failed"}


class BadCallback(BookflowError):
    status = 400
    code = "bad-callback"


async def _form(request: Request) -> dict[str, str]:
    """The form fields of a callback (providers post application/x-www-form-urlencoded)."""
    if not request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        raise BadCallback("expected an application/x-www-form-urlencoded body")
    try:
        return dict(parse_qsl((await request.body()).decode(), keep_blank_values=True, strict_parsing=False))
    except UnicodeDecodeError as exc:
        raise BadCallback("the body is not UTF-8") from exc


def _required(form: dict[str, str], *names: str) -> list[str]:
    missing = [n for n in names if not form.get(n)]
    if missing:
        raise BadCallback(f"missing field(s): {', '.join(missing)}")
    return [form[n] for n in names]


def _instant(text: str | None) -> datetime:
    """A provider's timestamp; 46elks sends UTC without a zone. Now, if absent or unreadable."""
    try:
        moment = datetime.fromisoformat(text or "")
    except ValueError:
        return datetime.now(UTC)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


async def _accounts(runtime: ServiceRuntime, tenant_id: str, provider: str) -> list[SmsProviderAccount]:
    async with runtime.db.transaction() as session:
        view = tenancy.view(tenant_id, await storage.tenant(session, tenant_id))
    return [a for a in view.settings.sms_providers if a.provider == provider]


def _elks_secret_matches(accounts: list[SmsProviderAccount], secret: str) -> bool:
    return any(a.webhook_secret and hmac.compare_digest(a.webhook_secret.encode(), secret.encode()) for a in accounts)


def twilio_signature(token: str, url: str, form: dict[str, str]) -> str:
    """The signature Twilio sends for a callback to `url` with `form`."""
    payload = url + "".join(k + v for k, v in sorted(form.items()))
    return base64.b64encode(hmac.new(token.encode(), payload.encode(), hashlib.sha1).digest()).decode()


def _twilio_verified(runtime: ServiceRuntime, request: Request, form: dict[str, str], accounts: list[SmsProviderAccount]) -> bool:
    given = request.headers.get("x-twilio-signature", "")
    url = runtime.settings.base_url() + request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return bool(given) and any(
        a.password and hmac.compare_digest(twilio_signature(a.password, url, form), given)
        for a in accounts if not form.get("AccountSid") or a.username == form["AccountSid"]
    )


async def _report(runtime: ServiceRuntime, tenant_id: str, report: handlers.DeliveryReport) -> Response:
    async with runtime.db.transaction() as session:
        outcome = await handlers.apply_delivery_report(session, report, tenant_id)
    if outcome == "unknown":
        raise NotFound(f"no message {report.provider_message_id} of {report.provider}")
    return Response(status_code=204)


# --- 46elks ----------------------------------------------------------------------------------


@router.post("/46elks/{tenant_id}/delivery", status_code=204, summary="46elks delivery report (`whendelivered`)")
async def elks_delivery(tenant_id: str, secret: str, request: Request, runtime: Runtime) -> Response:
    if not _elks_secret_matches(await _accounts(runtime, tenant_id, "46elks"), secret):
        raise Forbidden("the callback's secret is not this tenant's")
    form = await _form(request)
    sms_id, status = _required(form, "id", "status")
    if status not in ELKS_STATUS:
        raise BadCallback(f"unknown status {status!r}")
    return await _report(runtime, tenant_id, handlers.DeliveryReport(
        "46elks", sms_id, ELKS_STATUS[status], _instant(form.get("delivered")), "46elks reported failed" if status == "failed" else None,
    ))


@router.post("/46elks/inbound", summary="46elks inbound SMS (`sms_url` of the tenant's number)")
async def elks_inbound(secret: str, request: Request, runtime: Runtime) -> Response:
    form = await _form(request)
    sms_id, sender, recipient = _required(form, "id", "from", "to")
    tenant_id = await _tenant_of(runtime, recipient)
    if not _elks_secret_matches(await _accounts(runtime, tenant_id, "46elks"), secret):
        raise Forbidden("the callback's secret is not this tenant's")
    await _receive(runtime, tenant_id, handlers.InboundMessage("46elks", sms_id, sender, recipient, form.get("message", ""), _instant(form.get("created"))))
    return Response(status_code=200)  # an empty answer: 46elks would send a non-empty one back as an SMS


# --- Twilio ----------------------------------------------------------------------------------


@router.post("/twilio/{tenant_id}/status", status_code=204, summary="Twilio status callback (`StatusCallback`)")
async def twilio_status(tenant_id: str, request: Request, runtime: Runtime) -> Response:
    form = await _form(request)
    if not _twilio_verified(runtime, request, form, await _accounts(runtime, tenant_id, "twilio")):
        raise Forbidden("the X-Twilio-Signature does not match")
    sid, status = _required(form, "MessageSid", "MessageStatus")
    if status not in TWILIO_STATUS:
        return Response(status_code=204)  # queued, accepted, sending: nothing new to us
    reason = f"twilio: {status}, error {form.get('ErrorCode') or 'none'}" if TWILIO_STATUS[status] == "failed" else None
    return await _report(runtime, tenant_id, handlers.DeliveryReport("twilio", sid, TWILIO_STATUS[status], datetime.now(UTC), reason))


@router.post("/twilio/inbound", summary="Twilio inbound SMS (the number's messaging webhook)")
async def twilio_inbound(request: Request, runtime: Runtime) -> Response:
    form = await _form(request)
    sid, sender, recipient = _required(form, "MessageSid", "From", "To")
    tenant_id = await _tenant_of(runtime, recipient)
    if not _twilio_verified(runtime, request, form, await _accounts(runtime, tenant_id, "twilio")):
        raise Forbidden("the X-Twilio-Signature does not match")
    await _receive(runtime, tenant_id, handlers.InboundMessage("twilio", sid, sender, recipient, form.get("Body", ""), datetime.now(UTC)))
    return Response("<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response></Response>", media_type="application/xml")


# --- Mailgun (inbound e-mail) ------------------------------------------------------------------


def mailgun_signature(signing_key: str, timestamp: str, token: str) -> str:
    """What Mailgun puts in `signature`: hex HMAC-SHA256 of timestamp and token with the key."""
    return hmac.new(signing_key.encode(), (timestamp + token).encode(), hashlib.sha256).hexdigest()


MAILGUN_MAX_AGE = timedelta(minutes=15)  # older signed posts are refused: a captured one cannot be replayed later


@router.post("/mailgun/{tenant_id}/inbound", summary="An e-mail answer forwarded by a Mailgun route (`forward()`)")
async def mailgun_inbound(tenant_id: str, request: Request, runtime: Runtime) -> Response:
    async with runtime.db.transaction() as session:
        inbound = tenancy.view(tenant_id, await storage.tenant(session, tenant_id)).settings.inbound_email
    form = await _any_form(request)
    timestamp, token, signature = (form.get(k, "") for k in ("timestamp", "token", "signature"))
    if inbound is None or not signature or not hmac.compare_digest(mailgun_signature(inbound.signing_key, timestamp, token), signature):
        raise Forbidden("the Mailgun signature does not match")
    if not timestamp.isdigit() or abs(datetime.now(UTC) - datetime.fromtimestamp(int(timestamp), UTC)) > MAILGUN_MAX_AGE:
        raise Forbidden("the Mailgun signature is too old")
    message_id, sender = _required(form, "Message-Id", "sender")
    text = form.get("stripped-text") or form.get("body-plain") or ""  # stripped: the answer without the quoted mail
    await _receive(runtime, tenant_id, handlers.InboundMessage(
        "mailgun", message_id, sender.strip().lower(), form.get("recipient") or inbound.address, text.strip(),
        datetime.fromtimestamp(int(timestamp), UTC), channel="email",
    ))
    return Response(status_code=200)


async def _any_form(request: Request) -> dict[str, str]:
    """Mailgun posts urlencoded or multipart (with attachments); attachments are not kept."""
    try:
        form = await request.form()
    except Exception as exc:  # noqa: BLE001 (whatever the parser says, the body is not a form)
        raise BadCallback(f"the body is not a form: {exc}") from exc
    return {k: v for k, v in form.items() if isinstance(v, str)}


# --- shared ----------------------------------------------------------------------------------


async def _tenant_of(runtime: ServiceRuntime, number: str) -> str:
    async with runtime.db.transaction() as session:
        tenant_id = await storage.tenant_of_number(session, number)
    if tenant_id is None:
        raise NotFound(f"no tenant receives at {number}")
    return tenant_id


async def _receive(runtime: ServiceRuntime, tenant_id: str, reply: handlers.InboundMessage) -> None:
    async with runtime.db.transaction() as session:
        if not await handlers.receive_reply(session, tenant_id, reply):
            _log.info("inbound %s %s was already received", reply.provider, reply.provider_message_id)
