"""Providers' callbacks: delivery reports and inbound SMS from 46elks and Twilio, e-mail answers
forwarded by Mailgun. Each is verified before anything is stored (callbacks.py says how): a
missing secret or signature answers 401, a wrong one 403, and changes nothing. Providers retry:
the same report or inbound message twice changes nothing the second time. Every field is
bounded and refuses control characters (422)."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Header, Query, Request, Response

from bookflow_notification import handlers
from bookflow_notification.api import TenantId
from bookflow_runtime.http import Session
from bookflow_runtime.inputs import Line, Paragraph, Phone

router = APIRouter(prefix="/webhooks", tags=["provider webhooks"])

ProviderId = Line(200, min_length=1)
Stamp = Line(40)
Text = Paragraph(20_000)
ElksSecret = Annotated[Line(200) | None, Query(description="The tenant's 46elks webhook secret.")]  # type: ignore[valid-type]
TwilioSignature = Annotated[Line(200) | None, Header(alias="X-Twilio-Signature", description="Twilio's signature of the callback.")]  # type: ignore[valid-type]
TWIML_EMPTY = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'


async def _signed(request: Request) -> tuple[str, dict[str, str]]:
    """The URL Twilio called (as providers see this service) and every field it posted: its
    signature covers them all, declared by the route or not."""
    url = request.app.state.settings.base_url() + request.url.path + (f"?{request.url.query}" if request.url.query else "")
    form = await request.form()  # Starlette parsed it once for the route's fields; this is that result
    return url, {k: v for k, v in form.items() if isinstance(v, str)}


# --- 46elks ----------------------------------------------------------------------------------


@router.post("/46elks/{tenant_id}/delivery", status_code=204, response_class=Response, summary="46elks delivery report (`whendelivered`)")
async def elks_delivery(
    tenant_id: TenantId, session: Session,
    sms_id: Annotated[ProviderId, Form(alias="id", description="46elks' id of the SMS.")],  # type: ignore[valid-type]
    status: Annotated[Line(20), Form(description="sent, delivered or failed.")],  # type: ignore[valid-type]
    delivered: Annotated[Stamp | None, Form(description="When, in UTC (46elks writes no zone).")] = None,  # type: ignore[valid-type]
    secret: ElksSecret = None,
) -> None:
    await handlers.receive_elks_report(session, tenant_id, secret, sms_id, status, delivered)


@router.post("/46elks/inbound", response_class=Response, summary="46elks inbound SMS (`sms_url` of the tenant's number)",
             responses={200: {"description": "Empty: 46elks would send a non-empty answer back to the customer as an SMS."}})
async def elks_inbound(
    session: Session,
    sms_id: Annotated[ProviderId, Form(alias="id", description="46elks' id of the SMS.")],  # type: ignore[valid-type]
    sender: Annotated[Phone, Form(alias="from", min_length=1, description="The customer's number.")],
    to: Annotated[Phone, Form(min_length=1, description="The tenant's number it was sent to.")],
    message: Annotated[Text, Form(description="What the customer wrote.")] = "",  # type: ignore[valid-type]
    created: Annotated[Stamp | None, Form(description="When 46elks received it (UTC).")] = None,  # type: ignore[valid-type]
    secret: ElksSecret = None,
) -> Response:
    await handlers.receive_elks_sms(session, secret, sms_id, sender, to, message, created)
    return Response(status_code=200)


# --- Twilio ----------------------------------------------------------------------------------


@router.post("/twilio/{tenant_id}/status", status_code=204, response_class=Response, summary="Twilio status callback (`StatusCallback`)")
async def twilio_status(
    tenant_id: TenantId, request: Request, session: Session, signature: TwilioSignature,
    sid: Annotated[ProviderId, Form(alias="MessageSid", description="Twilio's id of the message.")],  # type: ignore[valid-type]
    status: Annotated[Line(20), Form(alias="MessageStatus", description="queued, sent, delivered, undelivered, failed, read…")],  # type: ignore[valid-type]
    error_code: Annotated[Line(20) | None, Form(alias="ErrorCode", description="Why it failed.")] = None,  # type: ignore[valid-type]
    account_sid: Annotated[Line(64) | None, Form(alias="AccountSid", description="The account it was sent by.")] = None,  # type: ignore[valid-type]
) -> None:
    url, form = await _signed(request)
    await handlers.receive_twilio_status(session, tenant_id, url, form, signature, sid, status, error_code)


@router.post("/twilio/inbound", response_class=Response, summary="Twilio inbound SMS (the number's messaging webhook)",
             responses={200: {"description": "An empty TwiML answer.", "content": {"application/xml": {}}}})
async def twilio_inbound(
    request: Request, session: Session, signature: TwilioSignature,
    sid: Annotated[ProviderId, Form(alias="MessageSid", description="Twilio's id of the message.")],  # type: ignore[valid-type]
    sender: Annotated[Phone, Form(alias="From", min_length=1, description="The customer's number.")],
    to: Annotated[Phone, Form(alias="To", min_length=1, description="The tenant's number it was sent to.")],
    body: Annotated[Text, Form(alias="Body", description="What the customer wrote.")] = "",  # type: ignore[valid-type]
    account_sid: Annotated[Line(64) | None, Form(alias="AccountSid", description="The receiving account.")] = None,  # type: ignore[valid-type]
) -> Response:
    url, form = await _signed(request)
    await handlers.receive_twilio_sms(session, url, form, signature, sid, sender, to, body)
    return Response(TWIML_EMPTY, media_type="application/xml")


# --- Mailgun (inbound e-mail) ------------------------------------------------------------------


@router.post("/mailgun/{tenant_id}/inbound", response_class=Response, summary="An e-mail answer forwarded by a Mailgun route (`forward()`)",
             responses={200: {"description": "Taken (or already taken: Mailgun retries)."}})
async def mailgun_inbound(
    tenant_id: TenantId, session: Session,
    timestamp: Annotated[str, Form(pattern=r"^\d{1,10}$", description="When Mailgun signed the post (Unix seconds).")],
    token: Annotated[Line(200, min_length=1), Form(description="Mailgun's one-time token.")],  # type: ignore[valid-type]
    signature: Annotated[Line(128, min_length=1), Form(description="HMAC-SHA256 of timestamp and token.")],  # type: ignore[valid-type]
    message_id: Annotated[Line(500, min_length=1), Form(alias="Message-Id", description="The e-mail's Message-Id.")],  # type: ignore[valid-type]
    sender: Annotated[Line(254, min_length=3), Form(description="Who wrote it.")],  # type: ignore[valid-type]
    recipient: Annotated[Line(254) | None, Form(description="The address it was sent to.")] = None,  # type: ignore[valid-type]
    stripped_text: Annotated[Text | None, Form(alias="stripped-text", description="The answer without the quoted mail.")] = None,  # type: ignore[valid-type]
    body_plain: Annotated[Text | None, Form(alias="body-plain", description="The whole text.")] = None,  # type: ignore[valid-type]
) -> Response:
    await handlers.receive_mailgun_email(session, tenant_id, timestamp=timestamp, token=token, signature=signature,
                                         message_id=message_id, sender=sender, recipient=recipient, text=stripped_text or body_plain or "")
    return Response(status_code=200)
