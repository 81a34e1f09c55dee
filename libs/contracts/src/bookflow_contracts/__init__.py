"""bookflow's contracts: the envelope, the topics and every message that crosses a service border.

Producers and consumers share nothing else. A consumer of schema version 1 reads any later
message of the same type: models ignore fields they do not know, and new fields have defaults.
"""

from bookflow_contracts import topics
from bookflow_contracts.booking import *  # noqa: F401,F403  (every model is part of the contract)
from bookflow_contracts.booking import __all__ as _booking
from bookflow_contracts.checkin import *  # noqa: F401,F403
from bookflow_contracts.checkin import __all__ as _checkin
from bookflow_contracts.envelope import Envelope, Message, booking_key, decode, encode, message_types
from bookflow_contracts.notification import *  # noqa: F401,F403
from bookflow_contracts.notification import __all__ as _notification
from bookflow_contracts.parts import *  # noqa: F401,F403
from bookflow_contracts.parts import __all__ as _parts
from bookflow_contracts.sales import *  # noqa: F401,F403
from bookflow_contracts.sales import __all__ as _sales
from bookflow_contracts.scheduler import *  # noqa: F401,F403
from bookflow_contracts.scheduler import __all__ as _scheduler

__all__ = [
    "Envelope", "Message", "booking_key", "decode", "encode", "message_types", "topics",
    *_booking, *_checkin, *_notification, *_parts, *_sales, *_scheduler,
]
