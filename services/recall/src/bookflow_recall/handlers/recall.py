"""Recall for staff (flow E, seed 004): the tenant's recall settings, templates with steps,
customers' recalls, the recall list with markers, approvals, and till sales."""
from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from bookflow_recall.handlers import Deps
from bookflow_recall.storage import recall as storage
from bookflow_runtime.auth import Staff
from bookflow_runtime.database import after_commit
from bookflow_runtime.errors import InvalidInput

ONE_DAY = timedelta(days=1)


async def save_settings(session: AsyncSession, deps: Deps, staff: Staff, settings: storage.Settings) -> storage.Settings:
    """E1, E2: enable recall, show the missing-recall flag, the run offset; and (development
    mode only) how long the tenant's days last, so a demonstration runs on a seconds scale."""
    staff.require("administrator")
    if settings.day_length != ONE_DAY and not deps.settings.development:
        raise InvalidInput("a day shorter than a day is for development mode only (demonstrations and tests)")
    kept = await storage.settings_of(session, settings.tenant_id)
    now = deps.clock()
    origin = None if settings.day_length == ONE_DAY else (kept.day_origin if kept.day_length == settings.day_length else now)
    saved = replace(settings, day_origin=origin)
    await storage.save_settings(session, saved, now)
    after_commit(session, deps.evaluating.wake)
    return await storage.settings_of(session, settings.tenant_id)
