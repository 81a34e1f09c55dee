"""Recall settings, templates, customers' recalls, step runs, actions, markers and till sales:
every query on them."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg
from sqlalchemy.ext.asyncio import AsyncSession

from bookflow_recall.domain.calendar import TenantCalendar
from bookflow_recall.storage.tables import recall_settings, tenants


async def calendar(session: AsyncSession, tenant_id: str) -> TenantCalendar | None:
    """The tenant's calendar (its zone from `tenant.updated`, its day length from the recall
    settings), or None while the tenant has not reached this service."""
    row = (await session.execute(
        sa.select(tenants.c.time_zone, recall_settings.c.day_length, recall_settings.c.day_origin)
        .select_from(tenants.outerjoin(recall_settings, recall_settings.c.tenant_id == tenants.c.tenant_id))
        .where(tenants.c.tenant_id == tenant_id))).first()
    if row is None:
        return None
    return TenantCalendar(ZoneInfo(row.time_zone), row.day_length or timedelta(days=1), row.day_origin)


@dataclass(frozen=True)
class Settings:
    """A tenant's recall settings (E1, E2) and its calendar's day length."""

    tenant_id: str
    enabled: bool = False
    flag_missing: bool = False
    run_offset_days: int = 0
    day_length: timedelta = timedelta(days=1)
    day_origin: datetime | None = None
    time_zone: str | None = None
    """The tenant's zone as this service knows it (from `tenant.updated`); not a setting."""


async def settings_of(session: AsyncSession, tenant_id: str) -> Settings:
    zone = sa.select(tenants.c.time_zone).where(tenants.c.tenant_id == tenant_id).scalar_subquery()
    row = (await session.execute(sa.select(
        recall_settings.c.tenant_id, recall_settings.c.enabled, recall_settings.c.flag_missing, recall_settings.c.run_offset_days,
        recall_settings.c.day_length, recall_settings.c.day_origin, zone).where(recall_settings.c.tenant_id == tenant_id))).first()
    if row is None:
        return Settings(tenant_id, time_zone=(await session.execute(sa.select(zone))).scalar())
    return Settings(*row)


async def save_settings(session: AsyncSession, settings: Settings, at: datetime) -> None:
    values = {"enabled": settings.enabled, "flag_missing": settings.flag_missing, "run_offset_days": settings.run_offset_days,
              "day_length": settings.day_length, "day_origin": settings.day_origin, "updated_at": at}
    stmt = pg.insert(recall_settings).values(tenant_id=settings.tenant_id, **values)
    await session.execute(stmt.on_conflict_do_update(index_elements=[recall_settings.c.tenant_id], set_=values))
