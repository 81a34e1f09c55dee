"""Further messages of the booking service's flows (A, B); shared parts are in messages.py."""

from __future__ import annotations

__all__: list[str] = []
