"""What counts as an outage of the database or the broker rather than a fault of a message or a
request. An outage is waited out (a consumer retries without end, an HTTP route answers 503);
it never dead-letters a valid message and never reads as the caller's mistake.
"""

from __future__ import annotations

from collections.abc import Iterator

import asyncpg
import sqlalchemy.exc
from aiokafka.errors import KafkaError

_OUTAGE_TYPES: tuple[type[BaseException], ...] = (
    sqlalchemy.exc.OperationalError,
    sqlalchemy.exc.InterfaceError,
    sqlalchemy.exc.DisconnectionError,
    asyncpg.exceptions.PostgresConnectionError,
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.ConnectionDoesNotExistError,
    asyncpg.exceptions.TooManyConnectionsError,
    asyncpg.exceptions.InterfaceError,
    ConnectionError,
    OSError,
    TimeoutError,
    KafkaError,
)

# SQLSTATE classes of a server going away or being overloaded: 08 connection exception,
# 53 insufficient resources, 57P operator intervention (admin shutdown, crash shutdown, cannot
# connect now: what a restart of PostgreSQL answers). SQLAlchemy's asyncpg dialect passes these
# on as a plain DBAPIError, so the code is what tells them apart from a bad value.
_OUTAGE_SQLSTATES = ("08", "53", "57P")


def causes(exc: BaseException) -> Iterator[BaseException]:
    """`exc` and everything it wraps or was caused by. SQLAlchemy wraps a driver's error twice
    (DBAPIError → its adapted DBAPI error → asyncpg's), so the whole chain is looked at."""
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo and len(seen) < 16:
        current = todo.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        todo += [getattr(current, "orig", None), current.__cause__, current.__context__]


def caused_by(exc: BaseException, kinds: tuple[type[BaseException], ...]) -> bool:
    """Whether `exc` is, wraps or was caused by one of `kinds`."""
    return any(isinstance(cause, kinds) for cause in causes(exc))


def is_outage(exc: BaseException) -> bool:
    """Whether `exc` says the database or the broker is unavailable, not that the work is wrong."""
    for cause in causes(exc):
        if isinstance(cause, _OUTAGE_TYPES):
            return True
        sqlstate = getattr(cause, "sqlstate", None) or getattr(cause, "pgcode", None)
        if isinstance(sqlstate, str) and sqlstate.startswith(_OUTAGE_SQLSTATES):
            return True
    return False
