"""The sandbox for local runs: a page listing every message sent (SMS, e-mail, letters with their
PDF) and the customers' answers, where one can answer an SMS or an e-mail as the customer would.
An answer takes the same inbound path as a provider's webhook (`handlers.receive_reply`): it
becomes `reply.received`, and an SMS STOP opts out. Served only while `sandbox_enabled` is on."""
from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated
from urllib.parse import parse_qsl, urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse
from jinja2 import Environment

from bookflow_notification import handlers, storage, tenancy
from bookflow_runtime.errors import BookflowError, NotFound
from bookflow_runtime.http import runtime_of
from bookflow_runtime.runtime import ServiceRuntime


def _enabled(request: Request) -> None:
    if not request.app.state.runtime.settings.sandbox_enabled:
        raise NotFound("the sandbox is switched off")


router = APIRouter(prefix="/sandbox", tags=["sandbox"], dependencies=[Depends(_enabled)])
Runtime = Annotated[ServiceRuntime, Depends(runtime_of)]


class CannotAnswer(BookflowError):
    status = 409
    code = "cannot-answer"


@router.get("/messages", summary="Messages the sandbox channel received, newest first")
async def sandbox_messages(
    runtime: Runtime, tenant_id: str | None = None, recipient: str | None = None, limit: Annotated[int, Query(ge=1, le=1000)] = 100
) -> list[dict]:
    async with runtime.db.transaction() as session:
        return await storage.sandbox_inbox(session, tenant_id, recipient, limit)


@router.get("/replies", summary="Customers' answers, newest first")
async def sandbox_replies(runtime: Runtime, tenant_id: str | None = None, limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> list[dict]:
    async with runtime.db.transaction() as session:
        return [dict(r._mapping) for r in await storage.recent_replies(session, tenant_id, limit)]


@router.post("/messages/{message_id}/answer", summary="Answer an SMS as its customer (form field `text`)")
async def answer(message_id: uuid.UUID, request: Request, runtime: Runtime) -> RedirectResponse:
    text = dict(parse_qsl((await request.body()).decode(errors="replace"))).get("text", "").strip()
    if not text:
        raise CannotAnswer("write an answer first")
    async with runtime.db.transaction() as session:
        message = await storage.message(session, message_id)
        if message is None:
            raise NotFound("no such message")
        if message.channel not in ("sms", "email") or not message.recipient:
            raise CannotAnswer("only an SMS or an e-mail can be answered")
        tenant = tenancy.view(message.tenant_id, await storage.tenant(session, message.tenant_id))
        inbound = tenant.settings.inbound_email
        to = message.sender if message.channel == "sms" else (inbound.address if inbound else None)
        await handlers.receive_reply(session, message.tenant_id, handlers.InboundMessage(
            provider="sandbox", provider_message_id=str(uuid.uuid4()), sender=message.recipient,
            recipient=to or "sandbox", text=text, received_at=datetime.now(UTC), channel=message.channel,
        ), answers_message_id=message.id)
    back = request.headers.get("referer") or f"/sandbox?{urlencode({'tenant_id': message.tenant_id})}"
    return RedirectResponse(back, status_code=303)


@router.get("/letters/{message_id}", summary="A letter's PDF")
async def letter(message_id: uuid.UUID, runtime: Runtime) -> FileResponse:
    async with runtime.db.transaction() as session:
        message = await storage.message(session, message_id)
    if message is None or not message.letter_path or not Path(message.letter_path).is_file():
        raise NotFound("no such letter")
    return FileResponse(message.letter_path, media_type="application/pdf", filename=Path(message.letter_path).name)


@router.get("", response_class=HTMLResponse, summary="The sandbox page")
async def page(runtime: Runtime, tenant_id: str | None = None) -> HTMLResponse:
    async with runtime.db.transaction() as session:
        messages = await storage.recent_messages(session, tenant_id, 200)
        replies = await storage.recent_replies(session, tenant_id, 200)
    return HTMLResponse(_PAGE.render(messages=messages, replies=replies, tenant_id=tenant_id))


_PAGE = Environment(autoescape=True).from_string("""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>bookflow sandbox</title>
<style>
 body{font-family:system-ui,sans-serif;margin:2rem;max-width:70rem} table{border-collapse:collapse;width:100%}
 td,th{border-bottom:1px solid #ddd;padding:.4rem;vertical-align:top;text-align:left} .body{white-space:pre-wrap}
 .status-failed,.status-suppressed{color:#a00} .status-delivered{color:#070} form{display:flex;gap:.4rem;margin-top:.3rem}
</style></head><body>
<h1>bookflow sandbox{% if tenant_id %}: {{ tenant_id }}{% endif %}</h1>
<form method="get" action="/sandbox"><label>Tenant <input name="tenant_id" value="{{ tenant_id or '' }}"></label><button>Show</button></form>
<h2>Messages</h2>
<table id="messages"><thead><tr><th>When</th><th>Channel</th><th>To</th><th>Template</th><th>Text</th><th>Status</th></tr></thead><tbody>
{% for m in messages %}
<tr class="message" data-message-id="{{ m.id }}" data-channel="{{ m.channel or '' }}">
 <td>{{ m.created_at.strftime('%Y-%m-%d %H:%M:%S') }}</td><td>{{ m.channel or '—' }}{% if m.provider %} ({{ m.provider }}){% endif %}</td>
 <td>{{ m.recipient or '' }}</td><td>{{ m.template_key }}</td>
 <td>{% if m.subject and m.channel != 'sms' %}<strong>{{ m.subject }}</strong><br>{% endif %}<span class="body">{{ m.body or '' }}</span>
  {% if m.letter_path %}<br><a class="letter" href="/sandbox/letters/{{ m.id }}">letter (PDF)</a>{% endif %}
  {% if m.channel in ('sms', 'email') and m.recipient and m.status in ('sent', 'delivered') %}
  <form method="post" action="/sandbox/messages/{{ m.id }}/answer" class="answer">
   <input name="text" aria-label="answer as {{ m.recipient }}" placeholder="Answer as the customer"><button>Send answer</button></form>{% endif %}
 </td>
 <td class="status-{{ m.status }}">{{ m.status }}{% if m.reason %}<br><small>{{ m.reason }}</small>{% endif %}</td></tr>
{% else %}<tr><td colspan="6">No messages yet.</td></tr>{% endfor %}
</tbody></table>
<h2>Answers</h2>
<table id="replies"><thead><tr><th>When</th><th>Channel</th><th>From</th><th>To</th><th>Text</th><th>Provider</th></tr></thead><tbody>
{% for r in replies %}<tr class="reply"><td>{{ r.received_at.strftime('%Y-%m-%d %H:%M:%S') }}</td><td>{{ r.channel }}</td><td>{{ r.sender }}</td>
<td>{{ r.recipient }}</td><td class="body">{{ r.text }}</td><td>{{ r.provider }}</td></tr>
{% else %}<tr><td colspan="6">No answers yet.</td></tr>{% endfor %}
</tbody></table>
</body></html>""")
