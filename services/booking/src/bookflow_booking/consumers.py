"""Where messages enter the booking service: timers handed back, customers' replies, the
delivery status of every message to a customer (the communication log), the commands check-in
and recall send, and what happened at check-in."""
from functools import partial

from bookflow_booking import handlers, reminders
from bookflow_contracts import (
    AddWorkLine, AutoBook, ChangeCustomerContact, CheckinAnswered, CommentSharedWithMechanics, NotificationStatusChanged, ReminderDue,
    ReplyReceived, reminder_keys, topics,
)
from bookflow_runtime.consumer import Consumer


def consumers(deps: handlers.Deps) -> list[Consumer]:
    return [
        Consumer(name="reminders", topic=topics.REMINDER_DUE, keys=reminder_keys("booking"),
                 batch_handlers={ReminderDue: partial(reminders.reminders_due, deps=deps)}),  # the 18:00 rush (issue 17)
        Consumer(name="replies", topic=topics.REPLY_RECEIVED, handlers={ReplyReceived: partial(handlers.reply_received, deps=deps)}),
        Consumer(name="communication-log", topic=topics.NOTIFICATION_STATUS,
                 batch_handlers={NotificationStatusChanged: handlers.record_notification_statuses}),  # issue 17
        Consumer(name="commands", topic=topics.BOOKING_COMMANDS, handlers={
            ChangeCustomerContact: partial(handlers.change_customer_contact, deps=deps),
            AddWorkLine: partial(handlers.add_work_line, deps=deps),
            AutoBook: partial(handlers.auto_book, deps=deps),
        }),
        Consumer(name="checkin", topic=topics.CHECKIN_EVENTS, handlers={
            CheckinAnswered: handlers.checkin_answered, CommentSharedWithMechanics: handlers.comment_shared,
        }),
    ]
