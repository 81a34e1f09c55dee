"""bookflow's contracts: the envelope, the topics and every message that crosses a service border.

Producers and consumers share nothing else. A consumer of schema version 1 reads any later
message of the same type: models ignore fields they do not know.
"""

from bookflow_contracts import topics
from bookflow_contracts.envelope import Envelope, Message, decode, encode, message_types
from bookflow_contracts.messages import *  # noqa: F401,F403  (every model is part of the contract)
from bookflow_contracts.messages import __all__ as _messages
from bookflow_contracts.booking import *  # noqa: F401,F403
from bookflow_contracts.booking import __all__ as _booking
from bookflow_contracts.notification import *  # noqa: F401,F403
from bookflow_contracts.notification import __all__ as _notification

__all__ = ["Envelope", "Message", "decode", "encode", "message_types", "topics", *_messages, *_booking, *_notification]
