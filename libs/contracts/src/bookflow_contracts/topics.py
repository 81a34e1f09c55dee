"""Topic names, one constant each. Four are fixed by the specification; the rest carry commands
and events the flows need. Every topic is created explicitly at start-up, never auto-created."""

BOOKING_CREATED = "booking.created"
"""A booking (work order) was created. Fixed name (SPEC, Architecture)."""
ORDER_TRANSITIONED = "order.transitioned"
"""A booking or work order changed state. Fixed name."""
REPLY_RECEIVED = "reply.received"
"""A customer answered by SMS or e-mail. Fixed name."""
REMINDER_DUE = "reminder.due"
"""A durable timer reached its instant. Fixed name."""

TIMER_REQUESTS = "timer.requests"
"""Commands to the scheduler: set, reschedule or cancel timers."""
NOTIFICATION_REQUESTS = "notification.requests"
"""Commands to the notification service: send this template to this customer."""
NOTIFICATION_STATUS = "notification.status"
"""A message's delivery status changed (queued, sent, delivered, failed)."""
CUSTOMER_UPDATED = "customer.updated"
"""A customer's contact details or preferences changed."""
TENANT_UPDATED = "tenant.updated"
"""A tenant's settings changed; other services keep the part they need."""

DEAD_LETTER = "bookflow.dead-letter"
"""Messages that could not be handled: original key and bytes, the reason in headers."""

ALL = (
    BOOKING_CREATED,
    ORDER_TRANSITIONED,
    REPLY_RECEIVED,
    REMINDER_DUE,
    TIMER_REQUESTS,
    NOTIFICATION_REQUESTS,
    NOTIFICATION_STATUS,
    CUSTOMER_UPDATED,
    TENANT_UPDATED,
    DEAD_LETTER,
)
