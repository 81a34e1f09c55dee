"""Where messages enter the recall service: one consumer per topic it reads."""
from __future__ import annotations

from functools import partial

from bookflow_contracts import (
    BookingCommandApplied, BookingCommandRefused, BookingCreated, CustomerUpdated, NotificationStatusChanged, OrderTransitioned,
    ReminderDue, TenantUpdated, TillSaleRecorded, topics,
)
from bookflow_recall.handlers import Deps, book_again, projection, recall
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
        Consumer(name="command-results", topic=topics.BOOKING_COMMAND_RESULTS,
                 handlers={BookingCommandApplied: bound(recall.auto_book_answered), BookingCommandRefused: bound(recall.auto_book_answered)}),
        Consumer(name="sales", topic=topics.SALES_RECORDED, handlers={TillSaleRecorded: bound(recall.sale_recorded)}),
    ]
