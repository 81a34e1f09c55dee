"""Composition root of the booking service: its consumers, the staff API, tenant administration,
the customers' My pages and online booking."""
from fastapi import FastAPI

from bookflow_booking import accounts, api, consumers, handlers, my_pages, online_booking, tenants
from bookflow_booking.settings import BookingSettings
from bookflow_contracts import (
    BookingCommandApplied, BookingCommandRefused, BookingCreated, CancelTimer, CancelTimersWithPrefix, CatalogUpdated, CustomerUpdated,
    OrderTransitioned, SendNotification, SetTimer, TenantUpdated, WithdrawNotifications,
)
from bookflow_runtime.loop import run_rounds
from bookflow_runtime.runtime import ServiceRuntime

PUBLISHES = (BookingCreated, OrderTransitioned, CustomerUpdated, TenantUpdated, CatalogUpdated, BookingCommandApplied,
             BookingCommandRefused, SendNotification, WithdrawNotifications, SetTimer, CancelTimer, CancelTimersWithPrefix)


def create_app(settings: BookingSettings, deps: handlers.Deps | None = None) -> FastAPI:
    runtime = ServiceRuntime(
        settings,
        title="bookflow booking",
        description="Tenants, customers, the service catalog, technicians, slots and bookings and their state machine; "
                    "runs flows A and B, keeps the communication log.",
        publishes=PUBLISHES,
    )
    deps = deps or handlers.Deps(link_secret=settings.link_secret, public_url=settings.base_url(), link_days=settings.my_pages_link_days,
                                 online_booking_days=settings.online_booking_link_days)
    for consumer in consumers.consumers(deps):
        runtime.consume(consumer)

    async def forget_expired() -> float:
        async with runtime.db.transaction() as session:
            await handlers.forget_expired(session, deps.clock())
        return 600

    async def forgetting() -> None:
        await run_rounds("forget expired keys and links", forget_expired)

    runtime.background(forgetting)
    app = runtime.http_app([tenants.router, accounts.router, api.router, my_pages.router, my_pages.short_links, online_booking.router])
    app.add_exception_handler(my_pages.ShownOnPage, my_pages.show_on_page)
    app.add_exception_handler(online_booking.RefusedOnPage, online_booking.show_refusal)
    app.state.deps = deps
    return app
