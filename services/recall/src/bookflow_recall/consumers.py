"""Where messages enter the recall service: one consumer per topic it reads."""
from __future__ import annotations

from functools import partial

from bookflow_contracts import (
    BookingCreated, CustomerUpdated, NotificationStatusChanged, OrderTransitioned, ReminderDue, TenantUpdated, topics,
)
from bookflow_recall.handlers import Deps, book_again, projection
from bookflow_runtime.consumer import Consumer


def consumers(deps: Deps) -> list[Consumer]:
    def bound(handler):
        return partial(handler, deps=deps)

    return [
        Consumer(name=book_again.CONSUMER, topic=topics.BOOKING_CREATED, handlers={BookingCreated: bound(projection.booking_created)}),
        Consumer(name="transitions", topic=topics.ORDER_TRANSITIONED, handlers={OrderTransitioned: bound(projection.order_transitioned)}),
        Consumer(name="customers", topic=topics.CUSTOMER_UPDATED, handlers={CustomerUpdated: bound(projection.customer_updated)}),
        Consumer(name="tenants", topic=topics.TENANT_UPDATED, handlers={TenantUpdated: bound(projection.tenant_updated)}),
        Consumer(name="timers", topic=topics.REMINDER_DUE, handlers={ReminderDue: bound(book_again.reminder_due)}),
        Consumer(name="deliveries", topic=topics.NOTIFICATION_STATUS,
                 handlers={NotificationStatusChanged: bound(projection.notification_status)}),
    ]
