"""SMS providers over their HTTP APIs.

- 46elks: `POST {base}/a1/sms` with HTTP basic auth (API username, password) and form fields
  `from`, `to`, `message`, `whendelivered` (the delivery-report callback). Answers JSON with `id`.
  Delivery reports are form posts of `id`, `status` (sent, delivered, failed), `delivered`.
- Twilio: `POST {base}/2010-04-01/Accounts/{AccountSid}/Messages.json` with basic auth (SID,
  auth token) and form fields `From`, `To`, `Body`, `StatusCallback`. Answers 201 with JSON
  `sid`. Status callbacks post `MessageSid`, `MessageStatus`, `ErrorCode`; every callback is
  signed in `X-Twilio-Signature` (see webhooks.py).
- sandbox (development mode only): accepts at once and counts as delivered; the dispatcher stores
  it for the sandbox page.

The calls go through aiohttp rather than httpx: measured here, one httpx POST costs 1.1–1.3 ms
of CPU (httpcore's pool bookkeeping and anyio's socket attributes on every request), one aiohttp
POST about 0.2 ms, and the provider call is the hot path of every SMS (bench/notification).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlencode

import aiohttp

from bookflow_notification.channels import Accepted, Outgoing, SendFailed
from bookflow_notification.tenant_settings import ELKS_API, TWILIO_API, SmsProviderAccount


@dataclass(frozen=True)
class _Answer:
    status: int
    text: str


async def _post(http: aiohttp.ClientSession, provider: str, url: str, form: dict[str, str], auth: str) -> _Answer:
    # The form is encoded here: handing aiohttp a dict costs a multipart writer per request.
    headers = {"Authorization": auth, "Content-Type": "application/x-www-form-urlencoded"}
    try:
        async with http.post(url, data=urlencode(form).encode(), headers=headers) as response:
            return _Answer(response.status, await response.text())
    except TimeoutError as exc:
        raise SendFailed(f"{provider} did not answer in time", retryable=True) from exc
    except aiohttp.ClientError as exc:
        raise SendFailed(f"{provider} cannot be reached: {exc!r}", retryable=True) from exc


def _refused(answer: _Answer, provider: str) -> SendFailed:
    retryable = answer.status >= 500 or answer.status == 429
    return SendFailed(f"{provider} answered {answer.status}: {answer.text[:200]}", retryable=retryable)


def _provider_id(answer: _Answer, provider: str, field: str) -> str:
    try:
        return str(json.loads(answer.text)[field])
    except (ValueError, KeyError, TypeError) as exc:
        # It answered success, so the SMS may be on its way: do not send it again.
        raise SendFailed(f"{provider} accepted but its answer has no {field}: {answer.text[:200]}", retryable=False) from exc


def _basic_auth(username: str | None, password: str | None) -> str:
    return aiohttp.encode_basic_auth(username or "", password or "")


class SmsProviders:
    """Sends one SMS by the account the attempt names, with at most `concurrency` calls in flight
    per provider address (more would only queue inside the client and cost CPU)."""

    def __init__(self, http: aiohttp.ClientSession, callback_url: Callable[[str, SmsProviderAccount], str], *, concurrency: int = 64) -> None:
        self.http = http
        self.callback_url = callback_url  # (tenant, account) -> the delivery-report address
        self._concurrency = concurrency
        self._slots: dict[str, asyncio.Semaphore] = {}

    async def send(self, sms: Outgoing) -> Accepted:
        account = sms.account
        assert account is not None
        if account.provider == "sandbox":
            return Accepted("sandbox", f"sandbox-{sms.message_id}", delivered=True, sandbox=True)
        if account.provider == "46elks":
            return await self._elks(sms, account)
        return await self._twilio(sms, account)

    async def _call(self, provider: str, base: str, path: str, form: dict[str, str], auth: str) -> _Answer:
        base = base.rstrip("/")
        slots = self._slots.get(base)
        if slots is None:
            slots = self._slots[base] = asyncio.Semaphore(self._concurrency)
        async with slots:
            return await _post(self.http, provider, base + path, form, auth)

    async def _elks(self, sms: Outgoing, account: SmsProviderAccount) -> Accepted:
        form = {"from": account.sender, "to": sms.to, "message": sms.body}
        if account.webhook_secret:
            form["whendelivered"] = self.callback_url(sms.tenant_id, account)
        answer = await self._call("46elks", account.base_url or ELKS_API, "/a1/sms", form, _basic_auth(account.username, account.password))
        if answer.status != 200:
            raise _refused(answer, "46elks")
        return Accepted("46elks", _provider_id(answer, "46elks", "id"))

    async def _twilio(self, sms: Outgoing, account: SmsProviderAccount) -> Accepted:
        sid = account.username or ""
        form = {"From": account.sender, "To": sms.to, "Body": sms.body, "StatusCallback": self.callback_url(sms.tenant_id, account)}
        answer = await self._call(
            "twilio", account.base_url or TWILIO_API, f"/2010-04-01/Accounts/{sid}/Messages.json", form, _basic_auth(sid, account.password)
        )
        if answer.status not in (200, 201):
            raise _refused(answer, "twilio")
        return Accepted("twilio", _provider_id(answer, "twilio", "sid"))
