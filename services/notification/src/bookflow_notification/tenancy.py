"""What the notification service knows of a tenant: name, zone, language and its notification
settings, kept from `tenant.updated` and from the settings API, read as one `TenantView`."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from bookflow_contracts import TenantNotificationSettings, TenantUpdated
from bookflow_notification import domain, sealing


@dataclass(frozen=True)
class TenantView:
    tenant_id: str
    name: str
    zone: str | None  # None: the tenant never told us, so no quiet hours can be placed
    language: str | None
    settings: TenantNotificationSettings

    @property
    def phone_region(self) -> str | None:
        """Whose national numbers customers of this tenant give."""
        return domain.phone_region(self.settings.phone_region, self.zone)

    def sms_number(self, raw: str | None) -> tuple[str | None, str | None]:
        """`raw` as this tenant's SMS reach it (E.164), or None and why not."""
        return domain.sms_number(raw, self.phone_region)

    def template_values(self) -> dict[str, Any]:
        """What templates see as `tenant`."""
        s = self.settings
        return {"name": self.name, "reply_number": s.reply_number, "address_lines": s.address_lines,
                "phone": s.phone, "email": s.email, "website": s.website}


def view(tenant_id: str, row: sa.Row | None) -> TenantView:
    if row is None:
        return TenantView(tenant_id, tenant_id, None, None, TenantNotificationSettings())
    return TenantView(
        tenant_id, row.name or tenant_id, row.time_zone, row.language, TenantNotificationSettings.model_validate(sealing.unseal(row.settings))
    )


_SHARED_KEYS = frozenset(TenantNotificationSettings.model_fields) & {"letter_folder", "reply_number", "phone", "email", "website"}


def settings_after_event(current: dict[str, Any], event: TenantUpdated) -> dict[str, Any]:
    """The tenant's notification settings after a `tenant.updated`: the booking service's
    letter folder, reply number and the business's contact details (phone, e-mail, web), and anything under its `notification` key, over what we had.
    Raises pydantic.ValidationError for settings that make no sense (the event dead-letters)."""
    merged = dict(current)
    merged.update({k: v for k, v in event.settings.items() if k in _SHARED_KEYS})
    merged.update(event.settings.get("notification") or {})
    return TenantNotificationSettings.model_validate(merged).model_dump(mode="json")


def receiving_numbers(settings: TenantNotificationSettings) -> set[str]:
    """Numbers customers' answers arrive at, by which an inbound SMS finds its tenant."""
    numbers = {a.sender for a in settings.sms_providers if a.provider != "sandbox" and a.sender.startswith("+")}
    if settings.reply_number:
        numbers.add(settings.reply_number)
    return numbers
