"""The inbox: a consumer records each event id it handles in the same transaction as the effect,
so a redelivered message is recognised and changes nothing twice."""

from __future__ import annotations

import uuid

from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from bookflow_runtime.database import inbox


async def first_receipt(session: AsyncSession, consumer: str, event_id: uuid.UUID) -> bool:
    """Record the event as received by `consumer`; False if it was already (a duplicate)."""
    stmt = (
        insert(inbox)
        .values(consumer=consumer, event_id=event_id)
        .on_conflict_do_nothing()
        .returning(inbox.c.event_id)
    )
    return (await session.execute(stmt)).first() is not None
