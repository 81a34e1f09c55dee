"""Topic names, one constant each, and who publishes and consumes each. Four names are fixed by
the specification; the rest carry the commands and events the flows need. Every topic is
created explicitly at start-up, never auto-created."""

BOOKING_CREATED = "booking.created"
"""A booking (work order) was created. Fixed name (SPEC, Architecture)."""
ORDER_TRANSITIONED = "order.transitioned"
"""A booking or work order changed state, with the booking after it. Fixed name."""
REPLY_RECEIVED = "reply.received"
"""A customer answered by SMS or e-mail. Fixed name."""
REMINDER_DUE = "reminder.due"
"""A durable timer reached its instant. Fixed name."""

TIMER_REQUESTS = "timer.requests"
"""Commands to the scheduler: set, reschedule or cancel timers."""
NOTIFICATION_REQUESTS = "notification.requests"
"""Commands to the notification service: send this template to this customer; withdraw."""
NOTIFICATION_STATUS = "notification.status"
"""A message's delivery status changed (queued, sent, delivered, failed, suppressed, withdrawn)."""
CUSTOMER_UPDATED = "customer.updated"
"""A customer's contact details, preferences or consent changed."""
TENANT_UPDATED = "tenant.updated"
"""A tenant's settings changed; other services keep the part they need."""
BOOKING_COMMANDS = "booking.commands"
"""Commands to the booking service from check-in and recall: contact changes, work lines, auto-book."""
BOOKING_COMMAND_RESULTS = "booking.command-results"
"""Whether each command to the booking service was applied, and what it made."""
CHECKIN_EVENTS = "checkin.events"
"""What happened at check-in: answered, items handled, comments shared with mechanics."""
SALES_RECORDED = "sales.recorded"
"""Items sold at the till (E5), from a point-of-sale system or the recall service's sales endpoint."""

DEAD_LETTER = "bookflow.dead-letter"
"""Messages that could not be handled: original key and bytes (trimmed when large), the reason in headers."""

ALL = (
    BOOKING_CREATED, ORDER_TRANSITIONED, REPLY_RECEIVED, REMINDER_DUE, TIMER_REQUESTS, NOTIFICATION_REQUESTS,
    NOTIFICATION_STATUS, CUSTOMER_UPDATED, TENANT_UPDATED, BOOKING_COMMANDS, BOOKING_COMMAND_RESULTS, CHECKIN_EVENTS,
    SALES_RECORDED, DEAD_LETTER,
)

PUBLISHED_BY: dict[str, tuple[str, ...]] = {
    BOOKING_CREATED: ("booking",),
    ORDER_TRANSITIONED: ("booking",),
    CUSTOMER_UPDATED: ("booking",),
    TENANT_UPDATED: ("booking",),
    BOOKING_COMMAND_RESULTS: ("booking",),
    REMINDER_DUE: ("scheduler",),
    REPLY_RECEIVED: ("notification",),
    NOTIFICATION_STATUS: ("notification",),
    TIMER_REQUESTS: ("booking", "checkin", "recall"),
    NOTIFICATION_REQUESTS: ("booking", "checkin", "recall"),
    BOOKING_COMMANDS: ("checkin", "recall"),
    CHECKIN_EVENTS: ("checkin",),
    SALES_RECORDED: ("recall",),  # and any point-of-sale system
    DEAD_LETTER: ("booking", "notification", "scheduler", "recall", "checkin"),
}
"""Which services publish on each topic: each service's AsyncAPI document lists exactly these."""

CONSUMED_BY: dict[str, tuple[str, ...]] = {
    BOOKING_CREATED: ("checkin", "recall"),
    ORDER_TRANSITIONED: ("checkin", "recall"),
    CUSTOMER_UPDATED: ("notification", "recall", "checkin"),
    TENANT_UPDATED: ("notification", "checkin", "recall"),
    BOOKING_COMMAND_RESULTS: ("checkin", "recall"),
    REMINDER_DUE: ("booking", "checkin", "recall"),
    REPLY_RECEIVED: ("booking",),
    NOTIFICATION_STATUS: ("booking", "recall"),
    TIMER_REQUESTS: ("scheduler",),
    NOTIFICATION_REQUESTS: ("notification",),
    BOOKING_COMMANDS: ("booking",),
    CHECKIN_EVENTS: ("booking",),
    SALES_RECORDED: ("recall",),
    DEAD_LETTER: (),  # read by operators: `bookflow tail bookflow.dead-letter`
}
"""Which services consume each topic."""
