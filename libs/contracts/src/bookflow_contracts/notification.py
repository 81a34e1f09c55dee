"""Further messages of the notification service (settings, delivery, replies, consent, usage);
shared parts are in messages.py."""

from __future__ import annotations

__all__: list[str] = []
