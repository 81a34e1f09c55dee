"""Test-only crash points. `BOOKFLOW_FAULTS=consumer.after-commit` makes the process exit hard at
that point, the way a power cut would, so tests can prove nothing is lost or done twice.

Points: `consumer.after-commit` (effect stored, offset not committed), `relay.before-publish`
(outbox rows read, nothing published), `relay.after-publish` (published, not marked),
`scheduler.mid-batch` (timers claimed and their firings written, not committed).
"""

from __future__ import annotations

import logging
import os

_log = logging.getLogger(__name__)
_armed: set[str] = set()


def arm(spec: str) -> None:
    """Arm the comma-separated fault points in `spec`."""
    _armed.clear()
    _armed.update(p.strip() for p in spec.split(",") if p.strip())


def point(name: str) -> None:
    """Exit the process at once if `name` is armed."""
    if name in _armed:
        _log.warning("fault point %s reached: exiting", name)
        logging.shutdown()
        os._exit(70)
