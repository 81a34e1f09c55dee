"""SMS providers over their HTTP APIs with httpx.

- 46elks: `POST {base}/a1/sms` with HTTP basic auth (API username, password) and form fields
  `from`, `to`, `message`, `whendelivered` (the delivery-report callback). Answers JSON with `id`.
  Delivery reports are form posts of `id`, `status` (sent, delivered, failed), `delivered`.
- Twilio: `POST {base}/2010-04-01/Accounts/{AccountSid}/Messages.json` with basic auth (SID,
  auth token) and form fields `From`, `To`, `Body`, `StatusCallback`. Answers 201 with JSON
  `sid`. Status callbacks post `MessageSid`, `MessageStatus`, `ErrorCode`; every callback is
  signed in `X-Twilio-Signature` (see webhooks.py).
- sandbox: accepts at once and counts as delivered; the dispatcher stores it for the sandbox page.
"""

from __future__ import annotations

from collections.abc import Callable

import httpx

from bookflow_contracts import SmsProviderAccount
from bookflow_notification.channels import Accepted, Outgoing, SendFailed

ELKS_API = "https://api.46elks.com"
TWILIO_API = "https://api.twilio.com"


def _refused(response: httpx.Response, provider: str) -> SendFailed:
    retryable = response.status_code >= 500 or response.status_code == 429
    return SendFailed(f"{provider} answered {response.status_code}: {response.text[:200]}", retryable=retryable)


async def _post(http: httpx.AsyncClient, provider: str, url: str, **kwargs) -> httpx.Response:  # noqa: ANN003
    try:
        return await http.post(url, **kwargs)
    except httpx.TimeoutException as exc:
        raise SendFailed(f"{provider} did not answer in time ({type(exc).__name__})", retryable=True) from exc
    except httpx.TransportError as exc:
        raise SendFailed(f"{provider} cannot be reached: {exc!r}", retryable=True) from exc


def _provider_id(response: httpx.Response, provider: str, field: str) -> str:
    try:
        return str(response.json()[field])
    except (ValueError, KeyError, TypeError) as exc:
        # It answered success, so the SMS may be on its way: do not send it again.
        raise SendFailed(f"{provider} accepted but its answer has no {field}: {response.text[:200]}", retryable=False) from exc


class SmsProviders:
    """Sends one SMS by the account the attempt names."""

    def __init__(self, http: httpx.AsyncClient, callback_url: Callable[[str, SmsProviderAccount], str]) -> None:
        self.http = http
        self.callback_url = callback_url  # (tenant, account) -> the delivery-report address

    async def send(self, sms: Outgoing) -> Accepted:
        account = sms.account
        assert account is not None
        if account.provider == "sandbox":
            return Accepted("sandbox", f"sandbox-{sms.message_id}", delivered=True, sandbox=True)
        if account.provider == "46elks":
            return await self._elks(sms, account)
        return await self._twilio(sms, account)

    async def _elks(self, sms: Outgoing, account: SmsProviderAccount) -> Accepted:
        form = {"from": account.sender, "to": sms.to, "message": sms.body}
        if account.webhook_secret:
            form["whendelivered"] = self.callback_url(sms.tenant_id, account)
        response = await _post(
            self.http, "46elks", f"{(account.base_url or ELKS_API).rstrip('/')}/a1/sms",
            data=form, auth=(account.username or "", account.password or ""),
        )
        if response.status_code != 200:
            raise _refused(response, "46elks")
        return Accepted("46elks", _provider_id(response, "46elks", "id"))

    async def _twilio(self, sms: Outgoing, account: SmsProviderAccount) -> Accepted:
        sid = account.username or ""
        response = await _post(
            self.http, "twilio", f"{(account.base_url or TWILIO_API).rstrip('/')}/2010-04-01/Accounts/{sid}/Messages.json",
            data={"From": account.sender, "To": sms.to, "Body": sms.body, "StatusCallback": self.callback_url(sms.tenant_id, account)},
            auth=(sid, account.password or ""),
        )
        if response.status_code not in (200, 201):
            raise _refused(response, "twilio")
        return Accepted("twilio", _provider_id(response, "twilio", "sid"))
