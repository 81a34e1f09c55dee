"""What the notification service knows of a tenant: name, zone and language from `tenant.updated`,
and its notification settings (from that event and from the settings API), read as one
`TenantView` (storage maps the stored tenant to it)."""
from __future__ import annotations

import logging
import os.path
from dataclasses import dataclass
from typing import Any

from bookflow_contracts import TenantUpdated
from bookflow_notification import domain
from bookflow_notification.tenant_settings import TenantNotificationSettings, is_subfolder

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TenantView:
    tenant_id: str
    name: str
    zone: str | None  # None: the tenant never told us, so no quiet hours can be placed
    language: str | None
    settings: TenantNotificationSettings
    known: bool = False  # `tenant.updated` told of it: its name, zone and language are real

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


_SHARED_KEYS = frozenset({"letter_folder", "reply_number", "phone", "email", "website"})


def settings_after_event(current: dict[str, Any], event: TenantUpdated, letters_root: str) -> dict[str, Any]:
    """The tenant's notification settings after a `tenant.updated`: the booking service's
    letter folder, reply number and the business's contact details (phone, e-mail, web), and
    anything under its `notification` key, over what we had. A letter folder given as a full
    path inside the letters root counts as its subfolder; any other is not used (logged:
    letters then go to the tenant's default folder). Raises pydantic.ValidationError for
    settings that make no sense (the event dead-letters)."""
    merged = dict(current)
    merged.update({k: v for k, v in event.settings.items() if k in _SHARED_KEYS})
    merged.update(event.settings.get("notification") or {})
    folder = merged.get("letter_folder")
    if isinstance(folder, str) and os.path.isabs(folder):
        root = os.path.abspath(letters_root)
        folder = os.path.normpath(folder)
        folder = os.path.relpath(folder, root) if folder.startswith(root + os.sep) else None
    if folder is not None and not (isinstance(folder, str) and is_subfolder(folder)):
        _log.error("tenant %s names a letter folder outside the letters folder: not used", event.tenant_id)
        folder = None
    merged["letter_folder"] = folder
    return TenantNotificationSettings.model_validate(merged).model_dump(mode="json")
