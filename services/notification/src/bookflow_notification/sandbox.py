"""The sandbox for local runs: a page listing every message sent (SMS, e-mail, letters with their
PDF) and the customers' answers, where one can answer an SMS or an e-mail as the customer would.
An answer takes the same inbound path as a provider's webhook (`handlers.receive_reply`): it
becomes `reply.received`, and an SMS STOP opts out.

It shows every tenant's customers and needs no login, so it exists only in development mode:
app.py mounts these routes only while `sandbox_enabled` is on (never outside development mode)."""
from __future__ import annotations

import uuid
from pathlib import Path
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates

from bookflow_notification import handlers, views
from bookflow_runtime.errors import NotFound
from bookflow_runtime.http import Session
from bookflow_runtime.inputs import Paragraph, Phone

router = APIRouter(prefix="/sandbox", tags=["sandbox (development mode only)"])
pages = Jinja2Templates(directory=Path(__file__).parent / "pages")  # autoescapes .html

TenantFilter = Annotated[str | None, Query(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$", description="Only this tenant's.")]
Limit = Annotated[int, Query(ge=1, le=1000)]


@router.get("/messages", summary="Messages the sandbox channel received, newest first")
async def sandbox_messages(session: Session, tenant_id: TenantFilter = None,
                           recipient: Annotated[Phone | None, Query(description="Only to this number or address.")] = None,
                           limit: Limit = 100) -> list[views.SandboxMessage]:
    return await views.sandbox_inbox(session, tenant_id, recipient, limit)


@router.get("/replies", summary="Customers' answers, newest first")
async def sandbox_replies(session: Session, tenant_id: TenantFilter = None, limit: Limit = 100) -> list[views.Reply]:
    return await views.recent_replies(session, tenant_id, limit)


@router.post("/messages/{message_id}/answer", status_code=303, response_class=RedirectResponse,
             summary="Answer an SMS or e-mail as its customer (form field `text`)")
async def answer(message_id: uuid.UUID, request: Request, session: Session,
                 text: Annotated[Paragraph(5000, min_length=1), Form(description="The customer's answer.")]) -> RedirectResponse:  # type: ignore[valid-type]
    tenant_id = await handlers.answer_as_customer(session, message_id, text.strip())
    back = request.headers.get("referer") or f"/sandbox?{urlencode({'tenant_id': tenant_id})}"
    return RedirectResponse(back, status_code=303)


@router.get("/letters/{message_id}", response_class=FileResponse, summary="A letter's PDF",
            responses={200: {"content": {"application/pdf": {}}, "description": "The letter."}})
async def letter(message_id: uuid.UUID, session: Session) -> FileResponse:
    path = await views.letter_path(session, message_id)
    if path is None or not Path(path).is_file():
        raise NotFound("no such letter")
    return FileResponse(path, media_type="application/pdf", filename=Path(path).name)


@router.get("", response_class=HTMLResponse, summary="The sandbox page")
async def page(request: Request, session: Session, tenant_id: TenantFilter = None) -> HTMLResponse:
    return pages.TemplateResponse(request, "sandbox.html", {"page": await views.sandbox_page(session, tenant_id), "tenant_id": tenant_id})
