"""Composition root of the booking service: its consumers, the staff API, tenant administration
and the customers' My pages."""
import logging

from fastapi import FastAPI

from bookflow_booking import api, consumers, handlers, my_pages, tenants
from bookflow_booking.settings import BookingSettings
from bookflow_contracts import (
    BookingCommandApplied, BookingCommandRefused, BookingCreated, CancelTimer, CancelTimersWithPrefix, CustomerUpdated,
    OrderTransitioned, SendNotification, SetTimer, TenantUpdated, WithdrawNotifications,
)
from bookflow_runtime.runtime import ServiceRuntime

PUBLISHES = (BookingCreated, OrderTransitioned, CustomerUpdated, TenantUpdated, BookingCommandApplied, BookingCommandRefused,
             SendNotification, WithdrawNotifications, SetTimer, CancelTimer, CancelTimersWithPrefix)

_log = logging.getLogger(__name__)


def create_app(settings: BookingSettings, deps: handlers.Deps | None = None) -> FastAPI:
    runtime = ServiceRuntime(
        settings,
        title="bookflow booking",
        description="Tenants, technicians, slots and bookings and their state machine; runs flows A and B.",
        publishes=PUBLISHES,
    )
    deps = deps or handlers.Deps(link_secret=settings.link_secret, public_url=settings.base_url())
    for consumer in consumers.consumers(deps):
        runtime.consume(consumer)
    app = runtime.http_app([tenants.router, api.router, my_pages.router, my_pages.short_links])
    app.state.deps = deps
    return app
