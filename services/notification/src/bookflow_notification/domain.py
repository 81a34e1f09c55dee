"""Choosing a channel and rendering a message, free of I/O. Templates render in Jinja2's
sandbox, so a tenant's template can read the data it is given and nothing else."""
from __future__ import annotations

from typing import Any

from jinja2 import StrictUndefined
from jinja2.sandbox import SandboxedEnvironment

from bookflow_contracts import Channel, SendNotification

_env = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False)

DEFAULT_TEMPLATES: dict[str, dict[str, str]] = {
    "booking-notice": {
        "en": "Hello {{ customer.name }}, your {{ service }} is booked for {{ starts_at }}.",
        "sv": "Hej {{ customer.name }}, din tid för {{ service }} är bokad {{ starts_at }}.",
        "nb": "Hei {{ customer.name }}, din time for {{ service }} er booket {{ starts_at }}.",
        "da": "Hej {{ customer.name }}, din tid til {{ service }} er booket {{ starts_at }}.",
        "nl": "Hallo {{ customer.name }}, uw afspraak voor {{ service }} staat op {{ starts_at }}.",
    },
}


class CannotRender(ValueError):
    """No template for the key and language, or the data lacks a placeholder's value."""


def recipient(request: SendNotification, channel: Channel) -> str | None:
    c = request.customer
    if channel == "sms":
        return c.phone
    if channel == "email":
        return c.email
    if c.address and c.address.street and c.address.postcode:
        return f"{c.name}, {c.address.street}, {c.address.postcode} {c.address.city or ''}".strip()
    return None


def choose_channel(request: SendNotification) -> tuple[Channel, str] | None:
    """The first channel of the request's policy the customer can be reached by."""
    for channel in request.channels:
        to = recipient(request, channel)
        if to:
            return channel, to
    return None


def render(template_key: str, language: str, data: dict[str, Any]) -> str:
    """Render a default template in `language`, falling back to English."""
    variants = DEFAULT_TEMPLATES.get(template_key)
    if not variants:
        raise CannotRender(f"no template {template_key!r}")
    source = variants.get(language) or variants["en"]
    try:
        return _env.from_string(source).render(**data)
    except Exception as exc:  # noqa: BLE001 (any template failure is the same problem to the caller)
        raise CannotRender(f"template {template_key!r} ({language}): {exc}") from exc
