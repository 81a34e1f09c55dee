"""The inbox: a consumer records each event id it handles in the same transaction as the effect,
so a redelivered message is recognised and changes nothing twice."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

# One statement for a whole batch of records: ids in as an array, the new ones back.
_RECORD_MANY = sa.text(
    "INSERT INTO inbox (consumer, event_id) SELECT :consumer, unnest(CAST(:event_ids AS uuid[])) "
    "ON CONFLICT DO NOTHING RETURNING event_id"
)


async def first_receipts(session: AsyncSession, consumer: str, event_ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
    """Record the events as received by `consumer`; the ids it had not received before."""
    if not event_ids:
        return set()
    rows = await session.execute(_RECORD_MANY, {"consumer": consumer, "event_ids": list(event_ids)})
    return {row.event_id for row in rows}
