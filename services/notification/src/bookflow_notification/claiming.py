"""Claiming, the dispatcher's first step: in one short transaction, lock due queued messages
(`FOR UPDATE SKIP LOCKED`, so replicas share the work), decide each one, and mark those that go
`sending`, rendered, with the provider that takes them.

A message does not go out, and says why, when its tenant is not known yet (it waits for
`tenant.updated`), its purpose has passed (`valid_until`), the customer opted out or gave no
consent or cannot be reached, the tenant's quiet hours hold an SMS, the template cannot be
rendered, the SMS would be too long, or the channel has nothing to send by.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from bookflow_notification import domain, privacy, recording, sealing, segments, storage, tenancy, templating
from bookflow_notification.channels import Outgoing
from bookflow_notification.domain import Message
from bookflow_notification.settings import NotificationSettings
from bookflow_notification.tenant_settings import SmsProviderAccount
from bookflow_runtime import context

_log = logging.getLogger(__name__)

WAITING_FOR_TENANT = "waiting for the tenant's settings"
SANDBOX = SmsProviderAccount(provider="sandbox")


@dataclass(frozen=True)
class Job:
    """A claimed message on its way out: `message` as claimed (channel, recipient, rendered text,
    provider), what the channel is handed, and how many SMS providers the tenant has."""

    message: Message
    outgoing: Outgoing
    provider_count: int


@dataclass
class _Batch:
    """What a round needs to decide, read once for all its messages."""

    now: datetime
    tenants: dict[str, tenancy.TenantView]
    unreadable: dict[str, str]  # tenants whose secrets this process cannot open, and why
    opted_out: set[tuple[str, str]]
    consents: dict[tuple[str, object], bool]
    saved: dict[tuple[str, str, str, str], tuple[str, str]]
    withdrawals: dict[tuple[str, str], domain.Withdrawals]
    hold_withdrawable: bool = False
    held: int = 0  # messages left queued for that


class Claiming:
    def __init__(self, settings: NotificationSettings) -> None:
        self.settings = settings

    def sms_accounts(self, tenant: tenancy.TenantView) -> list[SmsProviderAccount]:
        """The accounts an SMS of the tenant may go by: the sandbox only while it is on, and
        the sandbox for a tenant without a provider only then."""
        usable = [a for a in tenant.settings.sms_providers if a.provider != "sandbox" or self.settings.sandbox_enabled]
        if not usable and self.settings.sandbox_enabled:
            return [SANDBOX]
        return usable

    async def claim(self, session: AsyncSession, now: datetime, *, withdrawable: bool = True) -> tuple[int, list[Job]]:
        """Claim up to a batch of due messages: (how many were decided, the jobs to send).
        `withdrawable=False`: a message a withdrawal could stop stays queued (the withdrawals
        consumer is behind, and its withdrawal may be on the topic, not yet read); it is still
        withdrawn, or set waiting for its tenant, as it would be."""
        due = await storage.claim_due(session, now, self.settings.dispatch_batch_size)
        if not due:
            return 0, []
        batch = dataclasses.replace(await self._read_batch(session, due, now), hold_withdrawable=not withdrawable)
        jobs = [job for message in due if (job := await self._prepare(session, message, batch))]
        await storage.claim(session, [job.message for job in jobs], now + timedelta(seconds=self.settings.sending_lease_seconds))
        return len(due) - batch.held, jobs

    async def _read_batch(self, session: AsyncSession, due: list[Message], now: datetime) -> _Batch:
        tenants, unreadable = {}, {}
        for tenant_id, view in (await storage.tenant_views(session, {m.tenant_id for m in due})).items():
            if isinstance(view, sealing.CannotUnseal):
                unreadable[tenant_id] = view.detail
            else:
                tenants[tenant_id] = view
        phones = {(m.tenant_id, number) for m in due
                  if m.tenant_id in tenants and (number := tenants[m.tenant_id].sms_number(m.customer.phone)[0])}
        marketing = {(m.tenant_id, m.customer_id) for m in due if m.purpose == "marketing"}
        saved: dict[tuple[str, str, str, str], tuple[str, str]] = {}
        for tenant_id, tenant in tenants.items():
            if tenant.known:
                for (key, channel, language), text in (await storage.saved_templates(session, tenant_id)).items():
                    saved[(tenant_id, key, channel, language)] = text
        withdrawals = await storage.withdrawals_of(session, {(m.tenant_id, m.regarding) for m in due if m.regarding})
        return _Batch(now, tenants, unreadable, await storage.opted_out(session, phones), await storage.consents_of(session, marketing),
                      saved, withdrawals)

    async def _prepare(self, session: AsyncSession, message: Message, batch: _Batch) -> Job | None:
        """Decide one due message: hold it, withhold it, fail it, or make it a job."""
        now = batch.now
        with context.conversation(message.correlation_id, tenant_id=message.tenant_id):
            withdrawn = batch.withdrawals.get((message.tenant_id, message.regarding)) if message.regarding else None
            if domain.withdrawn_on_arrival(withdrawn, message.regarding_version, message.requested_at or message.created_at):
                # Withdrawn while it was being handed to a provider that failed (a withdrawal
                # recalls no message `sending`): its retry must not go out.
                assert withdrawn is not None
                await storage.update_message(session, message.id, status="withdrawn", reason=withdrawn.reason, failed_at=now,
                                             lease_until=None)
                await recording.withdraw(session, message, withdrawn.reason, now)
                return None
            if message.tenant_id in batch.unreadable:
                # A misconfigured key is for the operator to fix: the message waits, it is not lost.
                await storage.update_message(session, message.id, not_before=now + timedelta(seconds=60))
                _log.error("%s %s held: %s", message.template_key, message.id, batch.unreadable[message.tenant_id])
                return None
            tenant = batch.tenants[message.tenant_id]
            if not tenant.known:
                # Rendered now it would carry defaults a customer would see (UTC times, the
                # tenant's id as its name, no quiet hours): it waits for `tenant.updated`.
                await storage.update_message(session, message.id, status="waiting", reason=WAITING_FOR_TENANT)
                await storage.add_event(session, message.id, "waiting", now, WAITING_FOR_TENANT)
                _log.info("%s %s waits for the settings of tenant %s", message.template_key, message.id, message.tenant_id)
                return None
            if batch.hold_withdrawable and message.regarding:
                batch.held += 1
                return None
            passed = domain.past_its_purpose(message, now)
            if passed:
                await recording.fail(session, message, passed, now)
                return None
            return await self._route(session, message, tenant, batch)

    async def _route(self, session: AsyncSession, message: Message, tenant: tenancy.TenantView, batch: _Batch) -> Job | None:
        now = batch.now
        route = domain.choose_route(
            message.customer, message.channels, message.channel_index, marketing=message.purpose == "marketing",
            consent=batch.consents.get((message.tenant_id, message.customer_id)),
            sms_opted_out=(message.tenant_id, tenant.sms_number(message.customer.phone)[0]) in batch.opted_out,
            region=tenant.phone_region,
        )
        if isinstance(route, domain.Withheld):
            await storage.update_message(session, message.id, status=route.status, reason=route.reason,
                                         failed_at=now if route.status == "failed" else None)
            await recording.announce(session, message, route.status, now, route.reason)
            _log.info("%s %s to customer %s not sent: %s", message.template_key, message.id, message.customer_id,
                      privacy.redact(route.reason))
            return None
        # The message is copied once, with all the claim changes (a copy costs microseconds a
        # message, a round claims hundreds); the rare ways out copy what they need.
        chosen = {"channel": route.channel, "recipient": route.to, "channel_index": route.index}

        def routed() -> Message:
            return message._replace(**chosen)

        if route.channel == "sms" and tenant.zone:
            until = domain.quiet_until(now, tenant.zone, tenant.settings.quiet_hours_start, tenant.settings.quiet_hours_end)
            if until is not None:
                await storage.update_message(session, message.id, not_before=until, channel="sms", recipient=route.to,
                                             channel_index=route.index)
                await storage.add_event(session, message.id, "queued", now, f"held for the tenant's quiet hours until {until.isoformat()}")
                _log.info("%s %s held for quiet hours until %s", message.template_key, message.id, until.isoformat())
                return None
        nothing_to_send_by = self._no_way(route.channel, tenant)
        if nothing_to_send_by:
            await recording.fall_back_or_fail(session, routed(), nothing_to_send_by, now)
            return None
        language = templating.language_of(message.language, tenant.language)
        customer = message.customer.model_dump(mode="json")
        try:
            subject, body = (batch.saved.get((message.tenant_id, message.template_key, route.channel, language))
                             or templating.default_source(message.template_key, language))
            rendered = templating.render(
                subject, body, message.template_key,
                {**message.data, "customer": customer, "tenant": tenant.template_values()},
                zone=tenant.zone or "UTC", language=language, channel=route.channel,
            )
        except templating.CannotRender as exc:
            await recording.fall_back_or_fail(session, routed(), str(exc), now)
            return None
        account, provider_count, sms = None, 1, {}
        if route.channel == "sms":
            size = segments.measure(rendered.body)
            too_long = domain.sms_too_long(size.segments, self.settings.sms_max_segments)
            if too_long:
                await recording.fall_back_or_fail(session, routed(), too_long, now)
                return None
            accounts = self.sms_accounts(tenant)
            provider_count = len(accounts)
            account = accounts[min(message.provider_index, provider_count - 1)]
            s = tenant.settings
            sms = {"sender": account.sender, "provider": account.provider, "segments": size.segments, "encoding": size.encoding,
                   "price_per_segment": s.sms_price_per_segment, "currency": s.currency,
                   "payer": s.payer_by_template.get(message.template_key, s.payer)}
        claimed = message._replace(
            **chosen, status="sending", subject=rendered.subject, body=rendered.body, language=language,
            **(sms or dict.fromkeys(("sender", "provider", "segments", "encoding", "price_per_segment", "currency", "payer"))),
        )
        outgoing = Outgoing(
            message_id=message.id, tenant_id=message.tenant_id, tenant_name=tenant.name, channel=route.channel, to=route.to,
            subject=rendered.subject, body=rendered.body, settings=tenant.settings, account=account, customer=customer,
            booking_code=message.data.get("booking_code"), language=language, zone=tenant.zone,
        )
        return Job(claimed, outgoing, provider_count)

    def _no_way(self, channel: str, tenant: tenancy.TenantView) -> str | None:
        """Why the channel has nothing to send by, or None."""
        if channel == "sms" and not self.sms_accounts(tenant):
            return "no SMS provider configured"
        if channel == "email" and tenant.settings.smtp is None and not self.settings.sandbox_enabled:
            return "no e-mail server configured"
        return None
