"""The dispatcher: the loop that sends queued messages.

Each round has three steps, so that no database transaction stays open while a provider thinks:
1. claim: in one short transaction, lock due queued messages (`FOR UPDATE SKIP LOCKED`, so
   replicas share the work), decide each one (opt-out, consent, channel, quiet hours, template),
   and mark those that go `sending` with a lease;
2. send: call the channels concurrently, outside any transaction;
3. record: in one transaction, store each outcome (sent, retry later, next provider, next
   channel, failed) with its status event in the outbox.

A crash between 2 and 3 (a window of one batch's slowest provider call) leaves messages
`sending` whose provider may or may not have taken them. When their lease runs out they are
marked failed with that reason and not sent again: a customer never gets the same SMS twice,
at the price that such a message may show failed though it arrived. (Providers have no
idempotency key for SMS, so there is nothing better to ask them.)
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import aiohttp
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from bookflow_contracts import CustomerSnapshot, Envelope, SmsProviderAccount
from bookflow_notification import domain, sealing, segments, storage, tenancy, templating
from bookflow_notification.channels import Accepted, Outgoing, SendFailed
from bookflow_notification.channels.email import send_email
from bookflow_notification.channels.letter import write_letter
from bookflow_notification.channels.sms import SmsProviders
from bookflow_notification.handlers import announce, fall_back_or_fail, queued, status_changed
from bookflow_notification.settings import NotificationSettings
from bookflow_runtime import context, outbox
from bookflow_runtime.database import Database
from bookflow_runtime.loop import run_rounds

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Job:
    """A claimed message on its way out."""

    message: Any  # the claimed row, with the route's channel and recipient
    outgoing: Outgoing
    provider_count: int
    claim: dict[str, Any]  # what the claim stores: status `sending`, the rendered text, provider, price


@dataclass
class _Batch:
    """What a round needs to decide, read once for all its messages."""

    now: datetime
    tenants: dict[str, tenancy.TenantView]
    unreadable: dict[str, str]  # tenants whose secrets this process cannot open, and why
    opted_out: set[tuple[str, str]]
    consents: dict[tuple[str, Any], bool]
    saved: dict[tuple[str, str, str, str], tuple[str, str]]


class _Recording:
    """The accepted messages of a round, stored with a handful of statements instead of a few
    per message: most of a round's outcomes are these."""

    def __init__(self) -> None:
        self.updates: list[dict] = []
        self.sandbox: list[dict] = []
        self.events: list[dict] = []
        self.envelopes: list[tuple[Envelope, str]] = []

    def accepted(self, job: Job, outcome: Accepted, now: datetime) -> None:
        m = job.message
        status = "delivered" if outcome.delivered else "sent"
        billed = outcome.delivered and m.channel == "sms"
        self.updates.append({
            "id": m.id, "status": status, "provider": outcome.provider, "provider_message_id": outcome.provider_message_id,
            "sent_at": now, "lease_until": None, "letter_path": outcome.letter_path, "delivered_at": now if outcome.delivered else None,
            "billed_at": now if billed else None, "cost": domain.cost(m.segments, m.price_per_segment) if billed else None,
        })
        if outcome.sandbox:
            self.sandbox.append({"message_id": m.id, "tenant_id": m.tenant_id, "channel": m.channel, "recipient": m.recipient,
                                 "subject": m.subject, "body": m.body})
        self.events.append({"message_id": m.id, "status": "sent", "at": now, "detail": f"by {outcome.provider}"})
        if outcome.delivered:
            self.events.append({"message_id": m.id, "status": "delivered", "at": now, "detail": None})
        m.provider = outcome.provider
        changed = status_changed(m, status, now, cost=self.updates[-1]["cost"])
        self.envelopes.append((outbox.envelope_for(changed, tenant_id=m.tenant_id), changed.topic))
        _log.info("sent %s %s by %s (%s) to customer %s", m.template_key, m.id, m.channel, outcome.provider, m.customer_id)

    async def store(self, session: AsyncSession) -> None:
        await storage.update_messages(session, self.updates)
        await storage.add_sandbox_messages(session, self.sandbox)
        await storage.add_events(session, self.events)
        await outbox.put_many(session, self.envelopes)


class Dispatcher:
    def __init__(self, db: Database, settings: NotificationSettings, *, clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.db = db
        self.settings = settings
        self.clock = clock
        self.policy = domain.RetryPolicy(settings.attempts_per_provider, settings.retry_first_backoff_seconds)
        self._sms: SmsProviders | None = None
        self._last_lease_check = datetime.min.replace(tzinfo=UTC)

    async def run(self) -> None:
        timeout = aiohttp.ClientTimeout(total=self.settings.provider_timeout_seconds)
        connector = aiohttp.TCPConnector(limit=0, limit_per_host=self.settings.provider_concurrency)
        async with aiohttp.ClientSession(timeout=timeout, connector=connector) as http:
            self._sms = SmsProviders(http, self._callback_url, concurrency=self.settings.provider_concurrency)
            await asyncio.gather(*(self._lane() for _ in range(self.settings.dispatch_lanes)))

    async def _lane(self) -> None:
        """One round after another. Several lanes run at once, so that one lane's provider calls
        overlap another's claim and record (each claims its own rows: SKIP LOCKED)."""
        await run_rounds("dispatcher", self._round, queued)

    async def _round(self) -> float:
        handled = await self.dispatch_once()
        return 0 if handled >= self.settings.dispatch_batch_size else self.settings.dispatch_poll_seconds

    def _callback_url(self, tenant_id: str, account: SmsProviderAccount) -> str:
        """Where the provider reports delivery; the tenant in the path tells whose secret checks it."""
        base = self.settings.base_url()
        if account.provider == "46elks":
            return f"{base}/webhooks/46elks/{tenant_id}/delivery?secret={account.webhook_secret}"
        return f"{base}/webhooks/twilio/{tenant_id}/status"

    # --- one round ---------------------------------------------------------------------------

    async def dispatch_once(self) -> int:
        """Claim, send and record one batch; the number of messages claimed."""
        now = self.clock()
        async with self.db.transaction() as session:
            await self._give_up_expired_leases(session, now)
            rows = await storage.claim_due(session, now, self.settings.dispatch_batch_size)
            if not rows:
                return 0
            batch = await self._read_batch(session, rows, now)
            jobs = [job for row in rows if (job := await self._prepare(session, row, batch))]
            await storage.update_messages(session, [job.claim for job in jobs])
        outcomes = await asyncio.gather(*(self._send(job, now) for job in jobs))
        if jobs:
            recorded_at = self.clock()
            async with self.db.transaction() as session:
                record = _Recording()
                for job, outcome in zip(jobs, outcomes, strict=True):
                    with context.conversation(job.message.correlation_id, tenant_id=job.message.tenant_id):
                        if isinstance(outcome, SendFailed):
                            await self._record_failure(session, job, outcome, recorded_at)
                        else:
                            record.accepted(job, outcome, recorded_at)
                await record.store(session)
        return len(rows)

    async def _read_batch(self, session: AsyncSession, rows: list[sa.Row], now: datetime) -> _Batch:
        tenant_rows = await storage.tenants_by_id(session, {r.tenant_id for r in rows})
        tenants, unreadable = {}, {}
        for tenant_id in {r.tenant_id for r in rows}:
            try:
                tenants[tenant_id] = tenancy.view(tenant_id, tenant_rows.get(tenant_id))
            except sealing.CannotUnseal as exc:
                unreadable[tenant_id] = exc.detail
        phones = {(r.tenant_id, number) for r in rows
                  if r.tenant_id in tenants and (number := tenants[r.tenant_id].sms_number(r.customer.get("phone"))[0])}
        marketing = {(r.tenant_id, r.customer_id) for r in rows if r.purpose == "marketing"}
        saved: dict[tuple[str, str, str, str], tuple[str, str]] = {}
        for tenant_id in tenants:
            for t in await storage.saved_templates(session, tenant_id):
                saved[(tenant_id, t.template_key, t.channel, t.language)] = (t.subject, t.body)
        return _Batch(now, tenants, unreadable, await storage.opted_out(session, phones), await storage.consents_of(session, marketing), saved)

    async def _prepare(self, session: AsyncSession, row: sa.Row, batch: _Batch) -> Job | None:
        """Decide one claimed message: withhold it, hold it for quiet hours, or make it a job."""
        if row.tenant_id in batch.unreadable:
            # A misconfigured key is for the operator to fix: the message waits, it is not lost.
            await storage.update_message(session, row.id, not_before=batch.now + timedelta(seconds=60))
            _log.error("%s %s held: %s", row.template_key, row.id, batch.unreadable[row.tenant_id])
            return None
        now, tenant = batch.now, batch.tenants[row.tenant_id]
        customer = CustomerSnapshot.model_validate(row.customer)
        with context.conversation(row.correlation_id, tenant_id=row.tenant_id):
            route = domain.choose_route(
                customer, row.channels, row.channel_index, marketing=row.purpose == "marketing",
                consent=batch.consents.get((row.tenant_id, row.customer_id)),
                sms_opted_out=(row.tenant_id, tenant.sms_number(customer.phone)[0]) in batch.opted_out,
                region=tenant.phone_region,
            )
            if isinstance(route, domain.Withheld):
                await storage.update_message(session, row.id, status=route.status, reason=route.reason,
                                             failed_at=now if route.status == "failed" else None)
                await announce(session, row, route.status, now, route.reason)
                _log.info("%s %s to customer %s not sent: %s", row.template_key, row.id, row.customer_id, route.reason)
                return None
            message = SimpleNamespace(**{**row._mapping, "channel": route.channel, "recipient": route.to, "channel_index": route.index})
            if route.channel == "sms" and tenant.zone:
                until = domain.quiet_until(now, tenant.zone, tenant.settings.quiet_hours_start, tenant.settings.quiet_hours_end)
                if until is not None:
                    await storage.update_message(session, row.id, not_before=until, channel="sms", recipient=route.to, channel_index=route.index)
                    await storage.add_event(session, row.id, "queued", now, f"held for the tenant's quiet hours until {until.isoformat()}")
                    _log.info("%s %s held for quiet hours until %s", row.template_key, row.id, until.isoformat())
                    return None
            language = templating.language_of(row.language, tenant.language)
            try:
                subject, body = batch.saved.get((row.tenant_id, row.template_key, route.channel, language)) or templating.default_source(row.template_key, language)
                rendered = templating.render(
                    subject, body, row.template_key, {**row.data, "customer": row.customer, "tenant": tenant.template_values()},
                    zone=tenant.zone or "UTC", language=language, channel=route.channel,
                )
            except templating.CannotRender as exc:
                await fall_back_or_fail(session, message, str(exc), now)
                return None
            return await self._claim(session, message, tenant, rendered, now)

    async def _claim(self, session: AsyncSession, message: Any, tenant: tenancy.TenantView, rendered: templating.Rendered, now: datetime) -> Job:
        values: dict[str, Any] = {
            "status": "sending", "channel": message.channel, "recipient": message.recipient, "channel_index": message.channel_index,
            "subject": rendered.subject, "body": rendered.body, "language": message.language,
            "lease_until": now + timedelta(seconds=self.settings.sending_lease_seconds),
        }
        account, provider_count = None, 1
        values |= dict.fromkeys(("sender", "provider", "segments", "encoding", "price_per_segment", "currency", "payer"))
        if message.channel == "sms":
            accounts = tenant.settings.sms_providers
            provider_count = len(accounts)
            account = accounts[min(message.provider_index, provider_count - 1)]
            size = segments.measure(rendered.body)
            s = tenant.settings
            values |= {
                "sender": account.sender, "provider": account.provider, "segments": size.segments, "encoding": size.encoding,
                "price_per_segment": s.sms_price_per_segment, "currency": s.currency,
                "payer": s.payer_by_template.get(message.template_key, s.payer),
            }
        for key, value in values.items():
            setattr(message, key, value)
        outgoing = Outgoing(
            message_id=message.id, tenant_id=message.tenant_id, tenant_name=tenant.name, channel=message.channel,
            to=message.recipient, subject=rendered.subject, body=rendered.body, settings=tenant.settings, account=account,
            customer=message.customer, booking_code=(message.data or {}).get("booking_code"),
            language=templating.language_of(message.language, tenant.language), zone=tenant.zone,
        )
        return Job(message, outgoing, provider_count, {"id": message.id, **values})

    async def _send(self, job: Job, now: datetime) -> Accepted | SendFailed:
        out = job.outgoing
        try:
            if out.channel == "sms":
                assert self._sms is not None
                return await self._sms.send(out)
            if out.channel == "email":
                return await send_email(out, self.settings.provider_timeout_seconds)
            folder = Path(self.settings.letters_dir) / (out.settings.letter_folder or out.tenant_id)  # a tenant's folder is under the root
            return await write_letter(out, folder, now)
        except SendFailed as failure:
            return failure
        except Exception as exc:  # noqa: BLE001 (a fault of ours: the message fails with the reason, the batch goes on)
            _log.exception("sending %s failed unexpectedly", out.message_id)
            return SendFailed(f"internal error: {exc!r}", retryable=False)

    async def _record_failure(self, session: AsyncSession, job: Job, failure: SendFailed, now: datetime) -> None:
        m = job.message
        decision = domain.after_failure(
            attempts=m.attempts + 1, provider_index=m.provider_index, provider_count=job.provider_count,
            retryable=failure.retryable, policy=self.policy, now=now,
        )
        who = m.provider or m.channel
        if isinstance(decision, domain.RetryLater):
            await storage.update_message(session, m.id, status="queued", attempts=decision.attempts, not_before=decision.at, lease_until=None)
            await storage.add_event(session, m.id, "queued", now, f"{who} failed: {failure.reason}; retry at {decision.at.isoformat()}")
            _log.warning("%s %s: %s failed (%s), retry %d at %s", m.template_key, m.id, who, failure.reason, decision.attempts, decision.at.isoformat())
        elif isinstance(decision, domain.NextProvider):
            await storage.update_message(session, m.id, status="queued", attempts=0, provider_index=decision.provider_index,
                                         not_before=now, lease_until=None)
            await storage.add_event(session, m.id, "queued", now, f"{who} failed: {failure.reason}; trying the next provider")
            _log.warning("%s %s: %s failed (%s), next provider", m.template_key, m.id, who, failure.reason)
            queued.wake()
        else:
            if await fall_back_or_fail(session, m, failure.reason, now) == "queued":
                queued.wake()

    async def _give_up_expired_leases(self, session: AsyncSession, now: datetime) -> None:
        """Messages a stopped process left `sending`: see the module's docstring."""
        if now - self._last_lease_check < timedelta(seconds=10):
            return
        self._last_lease_check = now
        for row in await storage.expired_leases(session, now):
            reason = (f"outcome unknown: the service stopped between handing the message to {row.provider or row.channel} "
                      "and recording the answer; not sent again so that the customer gets no second message")
            await storage.update_message(session, row.id, status="failed", reason=reason, failed_at=now, lease_until=None)
            with context.conversation(row.correlation_id, tenant_id=row.tenant_id):
                await announce(session, row, "failed", now, reason)
            _log.error("message %s: %s", row.id, reason)
