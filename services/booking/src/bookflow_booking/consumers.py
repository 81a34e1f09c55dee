"""Where messages enter the booking service."""
from bookflow_booking import handlers
from bookflow_contracts import ReminderDue, topics
from bookflow_runtime.consumer import Consumer

reminders = Consumer(name="reminders", topic=topics.REMINDER_DUE, handlers={ReminderDue: handlers.record_reminder})
