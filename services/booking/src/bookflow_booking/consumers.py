"""Where messages enter the booking service: timers handed back, customers' replies, and the
delivery status of every message to a customer (the communication log)."""
from functools import partial

from bookflow_booking import handlers
from bookflow_contracts import NotificationStatusChanged, ReminderDue, ReplyReceived, topics
from bookflow_runtime.consumer import Consumer


def consumers(deps: handlers.Deps) -> list[Consumer]:
    return [
        Consumer(name="reminders", topic=topics.REMINDER_DUE, handlers={ReminderDue: partial(handlers.reminder_due, deps=deps)}),
        Consumer(name="replies", topic=topics.REPLY_RECEIVED, handlers={ReplyReceived: partial(handlers.reply_received, deps=deps)}),
        Consumer(name="communication-log", topic=topics.NOTIFICATION_STATUS,
                 handlers={NotificationStatusChanged: handlers.record_notification_status}),
    ]
