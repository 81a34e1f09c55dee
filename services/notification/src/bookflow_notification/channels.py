"""Channels a message can leave by. The sandbox channel keeps every message in the service's
own database, where the sandbox page and API show it: for local runs and tests."""
from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from bookflow_notification import storage


class SandboxChannel:
    """Delivers at once, to a table instead of a phone or mailbox."""

    name = "sandbox"

    async def send(self, session: AsyncSession, *, tenant_id: str, message_id: uuid.UUID, channel: str, recipient: str, body: str) -> None:
        await storage.add_sandbox_message(
            session, message_id=message_id, tenant_id=tenant_id, channel=channel, recipient=recipient, body=body
        )
