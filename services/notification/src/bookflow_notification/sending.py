"""Sending, the dispatcher's second step: hand each claimed message to its channel, outside any
transaction, so that no database transaction stays open while a provider thinks. Every outcome
comes back as a value, `Accepted` or `SendFailed`, for the third step to record."""

from __future__ import annotations

import logging
import os.path
from datetime import datetime
from pathlib import Path

import aiohttp

from bookflow_notification.channels import Accepted, Outgoing, SendFailed
from bookflow_notification.channels.email import send_email
from bookflow_notification.channels.letter import write_letter
from bookflow_notification.channels.sms import SmsProviders
from bookflow_notification.claiming import Job
from bookflow_notification.settings import NotificationSettings
from bookflow_notification.tenant_settings import SmsProviderAccount, provider_address_allowed

_log = logging.getLogger(__name__)


def letter_folder(root: str, tenant_id: str, subfolder: str | None) -> Path | None:
    """Where a tenant's letters go: its subfolder of the letters folder (its id when it named
    none); None when that would lie outside the letters folder."""
    base = os.path.abspath(root)
    folder = os.path.normpath(os.path.join(base, subfolder or tenant_id))
    return Path(folder) if folder.startswith(base + os.sep) else None


class Sender:
    def __init__(self, settings: NotificationSettings, http: aiohttp.ClientSession) -> None:
        self.settings = settings
        self.sms = SmsProviders(http, self.callback_url, concurrency=settings.provider_concurrency)

    def callback_url(self, tenant_id: str, account: SmsProviderAccount) -> str:
        """Where the provider reports delivery; the tenant in the path tells whose secret checks it."""
        base = self.settings.base_url()
        if account.provider == "46elks":
            return f"{base}/webhooks/46elks/{tenant_id}/delivery?secret={account.webhook_secret}"
        return f"{base}/webhooks/twilio/{tenant_id}/status"

    async def send(self, job: Job, now: datetime) -> Accepted | SendFailed:
        out = job.outgoing
        try:
            if out.channel == "sms":
                return await self._sms(out)
            if out.channel == "email":
                return await send_email(out, self.settings.provider_timeout_seconds)
            return await self._letter(out, now)
        except SendFailed as failure:
            return failure
        except Exception as exc:  # noqa: BLE001 (a fault of ours: the message fails with the reason, the batch goes on)
            _log.exception("sending %s failed unexpectedly", out.message_id)
            return SendFailed(f"internal error: {type(exc).__name__}", retryable=False)

    async def _sms(self, out: Outgoing) -> Accepted:
        assert out.account is not None
        if not provider_address_allowed(out.account, self.settings.test_addresses):
            # Stored before the rule, or written past the API: never called (server-side request forgery).
            raise SendFailed(f"{out.account.provider}'s address is not its public API nor an allowed test address", retryable=False)
        return await self.sms.send(out)

    async def _letter(self, out: Outgoing, now: datetime) -> Accepted:
        folder = letter_folder(self.settings.letters_dir, out.tenant_id, out.settings.letter_folder)
        if folder is None:
            raise SendFailed("the tenant's letter folder lies outside the letters folder", retryable=False)
        return await write_letter(out, folder, now)
