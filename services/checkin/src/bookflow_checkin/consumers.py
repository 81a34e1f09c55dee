"""Where messages enter the check-in service: bookings and their changes, tenants and their
catalogs, customers, the link timers handed back, and booking's answers to check-in's commands."""
from functools import partial

from bookflow_checkin import handlers
from bookflow_contracts import (
    BookingCommandApplied, BookingCommandRefused, BookingCreated, CatalogUpdated, CustomerUpdated, OrderTransitioned, ReminderDue,
    TenantUpdated, topics,
)
from bookflow_runtime.consumer import Consumer


def consumers(deps: handlers.Deps) -> list[Consumer]:
    def with_deps(handler):  # noqa: ANN001, ANN202
        return partial(handler, deps=deps)

    return [
        Consumer(name="bookings", topic=topics.BOOKING_CREATED, handlers={BookingCreated: with_deps(handlers.take_booking_created)}),
        Consumer(name="transitions", topic=topics.ORDER_TRANSITIONED, handlers={OrderTransitioned: with_deps(handlers.take_transition)}),
        Consumer(name="tenants", topic=topics.TENANT_UPDATED, handlers={
            TenantUpdated: with_deps(handlers.take_tenant), CatalogUpdated: with_deps(handlers.take_catalog)}),
        Consumer(name="customers", topic=topics.CUSTOMER_UPDATED, handlers={CustomerUpdated: with_deps(handlers.take_customer)}),
        Consumer(name="reminders", topic=topics.REMINDER_DUE, handlers={ReminderDue: with_deps(handlers.send_link_when_due)}),
        Consumer(name="command-results", topic=topics.BOOKING_COMMAND_RESULTS, handlers={
            BookingCommandApplied: with_deps(handlers.take_command_result),
            BookingCommandRefused: with_deps(handlers.take_command_result)}),
    ]
