"""Tenants' provider secrets (SMS API passwords and webhook secrets, SMTP passwords, inbound mail
signing keys) are stored
sealed: encrypted with the service's key (Fernet: AES-128-CBC with an HMAC), so that a copy of
the database or a backup does not hand out the keys to send SMS in a tenant's name.

`BOOKFLOW_NOTIFICATION_SECRETS_KEY` holds one or more comma-separated Fernet keys: the first
seals, every one unseals, so a key is rotated by putting the new one first. A value stored
before sealing existed (no prefix) is read as it is and sealed on the next save.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from bookflow_runtime import development
from bookflow_runtime.errors import BookflowError

_log = logging.getLogger(__name__)

PREFIX = "sealed:v1:"
SECRET_FIELDS = ("password", "webhook_secret", "signing_key")
DEVELOPMENT_KEY = development.SECRETS_KEY

_keys = MultiFernet([Fernet(DEVELOPMENT_KEY)])


class CannotUnseal(BookflowError):
    """A sealed secret that none of the configured keys opens: the service runs with the wrong
    `BOOKFLOW_NOTIFICATION_SECRETS_KEY` (a key was dropped before its secrets were sealed anew)."""

    status = 503
    code = "secrets-key-missing"


def configure(keys: str) -> None:
    """Use these comma-separated Fernet keys (the first seals)."""
    global _keys  # noqa: PLW0603 (process configuration, set once at start like logging)
    _keys = MultiFernet([Fernet(key.strip()) for key in keys.split(",") if key.strip()])
    if DEVELOPMENT_KEY in keys:
        _log.warning("tenants' provider secrets are sealed with the development key: set BOOKFLOW_NOTIFICATION_SECRETS_KEY")


ACCOUNTS = ("smtp", "inbound_email")  # settings keys holding one account; `sms_providers` holds a list


def _accounts(settings: dict[str, Any]) -> list[dict[str, Any]]:
    return [*(settings.get("sms_providers") or []), *(settings[key] for key in ACCOUNTS if settings.get(key))]


def seal(settings: dict[str, Any]) -> dict[str, Any]:
    """A copy of the settings with every secret sealed (sealed ones stay as they are)."""
    return map_secrets(settings, lambda v: v if v.startswith(PREFIX) else PREFIX + _keys.encrypt(v.encode()).decode())


def unseal(settings: dict[str, Any]) -> dict[str, Any]:
    """A copy of the settings with every secret readable again."""
    def opened(value: str) -> str:
        if not value.startswith(PREFIX):
            return value
        try:
            return _keys.decrypt(value[len(PREFIX):].encode()).decode()
        except InvalidToken as exc:
            raise CannotUnseal("the tenant's provider secrets are sealed with a key this service does not have "
                               "(BOOKFLOW_NOTIFICATION_SECRETS_KEY)") from exc

    return map_secrets(settings, opened)


def map_secrets(settings: dict[str, Any], change: Callable[[str], str]) -> dict[str, Any]:
    """A copy of the settings with `change` applied to every secret that is set."""
    out = {**settings}
    if out.get("sms_providers"):
        out["sms_providers"] = [dict(a) for a in out["sms_providers"]]
    for key in ACCOUNTS:
        if out.get(key):
            out[key] = dict(out[key])
    for account in _accounts(out):
        for field in SECRET_FIELDS:
            if isinstance(account.get(field), str) and account[field]:
                account[field] = change(account[field])
    return out
