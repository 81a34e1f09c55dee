"""What staff and the sandbox read, as typed models, each from one read query: the communication
log, the tenant's settings (secrets masked), templates, usage (per month and per day), where a
letter's PDF is, the sandbox's messages and answers. Also the bodies staff send (templates, previews)."""
from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel, Field
from sqlalchemy.dialects import postgresql as pg
from sqlalchemy.ext.asyncio import AsyncSession

from bookflow_contracts.templates import TEMPLATES
from bookflow_notification import storage, tenancy, templating
from bookflow_notification.default_templates import LANGUAGES
from bookflow_notification.storage import message_events, messages, replies, sandbox_messages, tenants
from bookflow_notification.tenant_settings import TenantNotificationSettings
from bookflow_runtime.inputs import Line, Paragraph

# --- the communication log -------------------------------------------------------------------


class HistoryEntry(BaseModel):
    status: str = Field(description="queued, waiting, sent, delivered, failed, suppressed or withdrawn.")
    at: datetime
    detail: str | None = Field(None, description="Why, or by whom.")


class LoggedMessage(BaseModel):
    """One message about a booking or to a customer (X4)."""

    id: uuid.UUID
    booking_id: uuid.UUID | None
    customer_id: uuid.UUID
    channel: str | None
    recipient: str | None
    template_key: str
    subject: str | None
    body: str | None
    status: str = Field(description="queued, waiting (for the tenant's settings), sending, sent, delivered, failed, suppressed, withdrawn.")
    reason: str | None
    provider: str | None
    segments: int | None
    cost: Decimal | None
    currency: str | None
    payer: str | None
    created_at: datetime
    sent_at: datetime | None
    delivered_at: datetime | None
    failed_at: datetime | None
    billed_at: datetime | None
    history: list[HistoryEntry]


_LOG_COLUMNS = [c for c in LoggedMessage.model_fields if c != "history"]


async def communication_log(session: AsyncSession, tenant_id: str, booking_id: uuid.UUID | None,
                            customer_id: uuid.UUID | None, channel: str | None = None) -> list[LoggedMessage]:
    """Every message of the tenant about a booking or to a customer (or in one channel), oldest
    first, each with its status history."""
    history = (
        sa.select(sa.func.coalesce(
            sa.func.jsonb_agg(pg.aggregate_order_by(
                sa.func.jsonb_build_object("status", message_events.c.status, "at", message_events.c.at, "detail", message_events.c.detail),
                message_events.c.id)),
            sa.text("'[]'::jsonb")))
        .where(message_events.c.message_id == messages.c.id).scalar_subquery()
    )
    query = (sa.select(*(messages.c[c] for c in _LOG_COLUMNS), history.label("history"))
             .where(messages.c.tenant_id == tenant_id).order_by(messages.c.created_at))
    if booking_id:
        query = query.where(messages.c.booking_id == booking_id)
    if customer_id:
        query = query.where(messages.c.customer_id == customer_id)
    if channel:
        query = query.where(messages.c.channel == channel)
    return [LoggedMessage.model_validate(dict(row._mapping)) for row in await session.execute(query)]


# --- the tenant's settings -------------------------------------------------------------------


class TenantDescription(BaseModel):
    """The tenant as this service knows it: name, zone and language from `tenant.updated`, and its
    notification settings with every secret masked as `***`."""

    name: str
    time_zone: str | None = Field(description="Empty until `tenant.updated` told of the tenant.")
    language: str | None
    settings: TenantNotificationSettings


def described(view: tenancy.TenantView) -> TenantDescription:
    return TenantDescription(name=view.name, time_zone=view.zone, language=view.language, settings=view.settings.masked())


async def tenant_description(session: AsyncSession, tenant_id: str) -> TenantDescription:
    return described(await storage.tenant(session, tenant_id))


# --- templates -------------------------------------------------------------------------------


class TemplateIn(BaseModel):
    subject: Paragraph(300) = Field("", description="E-mail subject or letter heading; unused for SMS.")  # type: ignore[valid-type]
    body: Paragraph(10_000, min_length=1) = Field(  # type: ignore[valid-type]
        description="The text, in Jinja2 syntax: {{ service }}, {{ starts_at|datetime }}.")


class PreviewIn(BaseModel):
    subject: Paragraph(300) | None = Field(None, description="A draft subject; the saved or default one when empty.")  # type: ignore[valid-type]
    body: Paragraph(10_000) | None = Field(None, description="A draft body; the saved or default one when empty.")  # type: ignore[valid-type]
    data: dict[Line(100), Any] = Field(  # type: ignore[valid-type]
        default_factory=dict, max_length=50, description="Placeholder values; examples fill the rest.")


class SavedTemplate(BaseModel):
    template_key: str
    channel: str
    language: str
    subject: str
    body: str
    updated_at: datetime | None = None


class Preview(BaseModel):
    subject: str
    body: str
    segments: int = Field(description="SMS segments the body takes.")
    encoding: str = Field(description="gsm-7 or ucs-2.")


class SourceText(BaseModel):
    subject: str
    body: str


class TemplateInfo(BaseModel):
    template_key: str
    purpose: str
    description: str
    placeholders: list[str]
    defaults: dict[str, SourceText] = Field(description="The default text by language.")
    saved: list[SavedTemplate] = Field(description="The tenant's own versions by channel and language.")


async def templates(session: AsyncSession, tenant_id: str) -> list[TemplateInfo]:
    """Every template key with its placeholders, defaults and the tenant's saved versions."""
    saved = list(await session.execute(sa.select(storage.templates).where(storage.templates.c.tenant_id == tenant_id)))
    return [
        TemplateInfo(
            template_key=key, purpose=spec.purpose, description=spec.description,
            placeholders=[*spec.placeholders, *templating.ALWAYS_AVAILABLE],
            defaults={lang: SourceText(**dict(zip(("subject", "body"), templating.default_source(key, lang), strict=True))) for lang in LANGUAGES},
            saved=[SavedTemplate(template_key=key, channel=t.channel, language=t.language, subject=t.subject, body=t.body, updated_at=t.updated_at)
                   for t in saved if t.template_key == key],
        )
        for key, spec in TEMPLATES.items()
    ]


# --- usage -----------------------------------------------------------------------------------


class Usage(BaseModel):
    """Delivered SMS of one payer in one month (in the tenant's zone)."""

    payer: str | None
    month: str
    currency: str | None
    messages: int
    segments: int | None
    amount: Decimal | None


async def usage(session: AsyncSession, tenant_id: str, month: str | None) -> list[Usage]:
    """Delivered SMS per payer and month: count, segments, amount."""
    zone = sa.func.coalesce(sa.select(tenants.c.time_zone).where(tenants.c.tenant_id == tenant_id).scalar_subquery(), "UTC")
    month_col = sa.func.to_char(sa.func.timezone(zone, messages.c.billed_at), "YYYY-MM")
    query = (
        sa.select(messages.c.payer, month_col.label("month"), messages.c.currency,
                  sa.func.count().label("messages"), sa.func.sum(messages.c.segments).label("segments"),
                  sa.func.sum(messages.c.cost).label("amount"))
        .where(messages.c.tenant_id == tenant_id, messages.c.billed_at.is_not(None))
        .group_by(messages.c.payer, month_col, messages.c.currency).order_by(month_col, messages.c.payer)
    )
    if month:
        query = query.having(month_col == month)
    return [Usage.model_validate(dict(row._mapping)) for row in await session.execute(query)]


class DailyUsage(BaseModel):
    """Messages of one template and channel that were sent, delivered or failed on one day (in the
    tenant's zone): each message counts on the day of each of those moments."""

    day: date
    template_key: str
    channel: str | None
    sent: int
    delivered: int
    failed: int


_MOMENTS = {"sent": messages.c.sent_at, "delivered": messages.c.delivered_at, "failed": messages.c.failed_at}


async def daily_usage(session: AsyncSession, tenant_id: str, first: date, last: date) -> list[DailyUsage]:
    """Messages sent, delivered and failed per day, template and channel, from `first` to `last`
    (days in the tenant's zone), oldest first; days without any are left out."""
    zone = sa.func.coalesce(sa.select(tenants.c.time_zone).where(tenants.c.tenant_id == tenant_id).scalar_subquery(), "UTC")
    moments = sa.union_all(*(
        sa.select(messages.c.template_key, messages.c.channel, sa.cast(sa.func.timezone(zone, at), sa.Date).label("day"),
                  sa.literal(kind).label("kind"))
        .where(messages.c.tenant_id == tenant_id, at.is_not(None),
               sa.cast(sa.func.timezone(zone, at), sa.Date).between(first, last))
        for kind, at in _MOMENTS.items()
    )).subquery()
    query = (
        sa.select(moments.c.day, moments.c.template_key, moments.c.channel,
                  *(sa.func.count().filter(moments.c.kind == kind).label(kind) for kind in _MOMENTS))
        .group_by(moments.c.day, moments.c.template_key, moments.c.channel)
        .order_by(moments.c.day, moments.c.template_key, moments.c.channel)
    )
    return [DailyUsage.model_validate(dict(row._mapping)) for row in await session.execute(query)]


# --- letters ---------------------------------------------------------------------------------


async def letter_of_tenant(session: AsyncSession, tenant_id: str, message_id: uuid.UUID) -> str | None:
    """Where the tenant's letter's PDF was written; None for another tenant's message or one
    that is not a written letter."""
    query = sa.select(messages.c.letter_path).where(
        messages.c.id == message_id, messages.c.tenant_id == tenant_id, messages.c.channel == "letter")
    return (await session.execute(query)).scalar()


# --- the sandbox -------------------------------------------------------------------------------


class SandboxMessage(BaseModel):
    """What the sandbox channel received."""

    id: int
    message_id: uuid.UUID
    tenant_id: str
    channel: str
    recipient: str
    subject: str | None
    body: str
    received_at: datetime


class Reply(BaseModel):
    """A customer's answer."""

    id: uuid.UUID
    tenant_id: str
    channel: str
    provider: str
    provider_message_id: str
    sender: str
    recipient: str
    text: str
    received_at: datetime
    answers_message_id: uuid.UUID | None


class PageMessage(BaseModel):
    """A message as the sandbox page shows it."""

    id: uuid.UUID
    created_at: datetime
    channel: str | None
    provider: str | None
    recipient: str | None
    template_key: str
    subject: str | None
    body: str | None
    letter_path: str | None
    status: str
    reason: str | None


async def sandbox_inbox(session: AsyncSession, tenant_id: str | None, recipient: str | None, limit: int) -> list[SandboxMessage]:
    """What the sandbox channel received, newest first."""
    query = sa.select(sandbox_messages).order_by(sandbox_messages.c.id.desc()).limit(limit)
    if tenant_id:
        query = query.where(sandbox_messages.c.tenant_id == tenant_id)
    if recipient:
        query = query.where(sandbox_messages.c.recipient == recipient)
    return [SandboxMessage.model_validate(dict(r._mapping)) for r in await session.execute(query)]


async def recent_replies(session: AsyncSession, tenant_id: str | None, limit: int) -> list[Reply]:
    query = sa.select(replies).order_by(replies.c.received_at.desc()).limit(limit)
    if tenant_id:
        query = query.where(replies.c.tenant_id == tenant_id)
    return [Reply.model_validate(dict(r._mapping)) for r in await session.execute(query)]


async def recent_messages(session: AsyncSession, tenant_id: str | None, limit: int) -> list[PageMessage]:
    """Every channel's messages for the sandbox page, newest first."""
    query = sa.select(*(messages.c[c] for c in PageMessage.model_fields)).order_by(messages.c.created_at.desc()).limit(limit)
    if tenant_id:
        query = query.where(messages.c.tenant_id == tenant_id)
    return [PageMessage.model_validate(dict(r._mapping)) for r in await session.execute(query)]


async def letter_path(session: AsyncSession, message_id: uuid.UUID) -> str | None:
    return (await session.execute(sa.select(messages.c.letter_path).where(messages.c.id == message_id))).scalar()



class SandboxPage(BaseModel):
    messages: list[PageMessage]
    replies: list[Reply]


async def sandbox_page(session: AsyncSession, tenant_id: str | None) -> SandboxPage:
    """The latest 200 messages of every channel and the latest 200 answers."""
    return SandboxPage(messages=await recent_messages(session, tenant_id, 200), replies=await recent_replies(session, tenant_id, 200))
