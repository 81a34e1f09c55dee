"""How providers' callbacks prove who sent them, free of I/O.

46elks signs nothing, so its callbacks carry the tenant's webhook secret in their address.
Twilio signs each callback in `X-Twilio-Signature`: base64 HMAC-SHA1 with the account's auth
token over the full URL as Twilio called it followed by every form field's name and value,
sorted by name (Twilio's "Webhooks security"). Mailgun signs `timestamp` + `token` with the
domain's webhook signing key (HMAC-SHA256, "Securing webhooks"); the token is used once.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta

from bookflow_notification.tenant_settings import SmsProviderAccount
from bookflow_runtime.auth import Forbidden, Unauthorized

ELKS_STATUS = {"sent": "sent", "delivered": "delivered", "failed": "failed"}
TWILIO_STATUS = {"sent": "sent", "delivered": "delivered", "read": "delivered", "undelivered": "failed", "failed": "failed"}
MAILGUN_MAX_AGE = timedelta(minutes=15)
"""Older signed posts are refused, and tokens are remembered this long: a captured post cannot
be replayed, later or at once."""


def check_elks_secret(accounts: Iterable[SmsProviderAccount], secret: str | None) -> None:
    """Unauthorized without the secret, Forbidden with a wrong one."""
    if not secret:
        raise Unauthorized("a 46elks callback carries the tenant's webhook secret in `secret`")
    if not any(a.webhook_secret and hmac.compare_digest(a.webhook_secret.encode(), secret.encode()) for a in accounts):
        raise Forbidden("the callback's secret is not this tenant's")


def twilio_signature(token: str, url: str, form: Mapping[str, str]) -> str:
    """The signature Twilio sends for a callback to `url` with `form`."""
    payload = url + "".join(k + v for k, v in sorted(form.items()))
    return base64.b64encode(hmac.new(token.encode(), payload.encode(), hashlib.sha1).digest()).decode()


def check_twilio_signature(accounts: Iterable[SmsProviderAccount], url: str, form: Mapping[str, str], given: str | None) -> None:
    if not given:
        raise Unauthorized("a Twilio callback is signed in X-Twilio-Signature")
    account_sid = form.get("AccountSid")
    if not any(a.password and hmac.compare_digest(twilio_signature(a.password, url, form), given)
               for a in accounts if not account_sid or a.username == account_sid):
        raise Forbidden("the X-Twilio-Signature does not match")


def mailgun_signature(signing_key: str, timestamp: str, token: str) -> str:
    """What Mailgun puts in `signature`: hex HMAC-SHA256 of timestamp and token with the key."""
    return hmac.new(signing_key.encode(), (timestamp + token).encode(), hashlib.sha256).hexdigest()


def check_mailgun_signature(signing_key: str | None, timestamp: str, token: str, signature: str, now: datetime) -> datetime:
    """When Mailgun signed the post; Forbidden for a wrong or old signature."""
    if signing_key is None or not hmac.compare_digest(mailgun_signature(signing_key, timestamp, token), signature):
        raise Forbidden("the Mailgun signature does not match")
    signed_at = datetime.fromtimestamp(int(timestamp), UTC)
    if abs(now - signed_at) > MAILGUN_MAX_AGE:
        raise Forbidden("the Mailgun signature is too old")
    return signed_at


def content_digest(*parts: str) -> str:
    """What a callback said, as one hash: a provider's retry says the same, a replay does not."""
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


def provider_instant(text: str | None, now: datetime) -> datetime:
    """A provider's timestamp; 46elks sends UTC without a zone. `now`, if absent or unreadable."""
    try:
        moment = datetime.fromisoformat(text or "")
    except ValueError:
        return now
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
