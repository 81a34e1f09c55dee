"""Where messages enter the recall service: one consumer per topic it reads. Every message but
`tenant.updated` (which introduces tenants) is for a tenant recall knows: one it has not heard
of is waited for briefly, then dead-lettered as `unknown-tenant` (bookflow_runtime.tenants)."""
from __future__ import annotations

from collections.abc import Callable
from functools import partial

from bookflow_contracts import (
    BookingCommandApplied, BookingCommandRefused, BookingCreated, CustomerUpdated, Message, NotificationStatusChanged,
    OrderTransitioned, ReminderDue, TenantUpdated, TillSaleRecorded, reminder_keys, timer_owner, topics,
)
from bookflow_recall.handlers import Deps, book_again, projection, recall
from bookflow_runtime.consumer import Consumer, Handler
from bookflow_runtime.tenants import TenantGate

TENANTS = "tenants"
TIMER_OWNERS = ("book-again", "recall")
"""The timer keys recall sets (the others' timers are not its business)."""


def consumers(deps: Deps, gate: TenantGate | None = None) -> list[Consumer]:
    """The consumers; with a `gate`, messages for tenants recall does not know are refused."""

    def bound(handler, mine: Callable[[Message], bool] = lambda _: True) -> Handler:
        run = partial(handler, deps=deps)
        if gate is None:
            return run

        async def for_known_tenants(session, message, envelope) -> None:
            if mine(message):
                await gate.require(session, envelope)
            await run(session, message, envelope)

        return for_known_tenants

    return [
        Consumer(name=book_again.CONSUMER, topic=topics.BOOKING_CREATED, handlers={BookingCreated: bound(projection.booking_created)}),
        Consumer(name="transitions", topic=topics.ORDER_TRANSITIONED, handlers={OrderTransitioned: bound(projection.order_transitioned)}),
        Consumer(name="customers", topic=topics.CUSTOMER_UPDATED, handlers={CustomerUpdated: bound(projection.customer_updated)}),
        Consumer(name=TENANTS, topic=topics.TENANT_UPDATED, handlers={TenantUpdated: partial(projection.tenant_updated, deps=deps)}),
        Consumer(name="timers", topic=topics.REMINDER_DUE, keys=reminder_keys(*TIMER_OWNERS), handlers={ReminderDue: bound(
            book_again.reminder_due, lambda m: timer_owner(m.timer_key) in TIMER_OWNERS)}),
        Consumer(name="deliveries", topic=topics.NOTIFICATION_STATUS,
                 handlers={NotificationStatusChanged: bound(projection.notification_status)}),
        Consumer(name="command-results", topic=topics.BOOKING_COMMAND_RESULTS,
                 handlers={BookingCommandApplied: bound(recall.auto_book_answered), BookingCommandRefused: bound(recall.auto_book_answered)}),
        Consumer(name="sales", topic=topics.SALES_RECORDED, handlers={TillSaleRecorded: bound(recall.sale_recorded)}),
    ]
