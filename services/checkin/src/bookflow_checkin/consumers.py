"""Where messages enter the check-in service: bookings and their changes, tenants and their
catalogs, customers, the link timers handed back, and booking's answers to check-in's commands.

Every message but `tenant.updated` (which introduces tenants) is for a tenant check-in knows:
one it has not heard of is waited for briefly, then dead-lettered as `unknown-tenant`
(bookflow_runtime.tenants). A `catalog.updated` comes after its tenant's `tenant.updated` on
the same partition, so an unknown tenant's catalog is refused at once."""
from collections.abc import Callable
from functools import partial

from sqlalchemy.ext.asyncio import AsyncSession

from bookflow_checkin import handlers, storage
from bookflow_contracts import (
    BookingCommandApplied, BookingCommandRefused, BookingCreated, CatalogUpdated, CustomerUpdated, Envelope, Message,
    OrderTransitioned, ReminderDue, TenantUpdated, reminder_keys, timer_owner, topics,
)
from bookflow_runtime.consumer import Consumer, Handler
from bookflow_runtime.errors import Undeliverable
from bookflow_runtime.tenants import TenantGate

TENANTS = "tenants"


async def known_tenant(session: AsyncSession, tenant_id: str) -> bool:
    """The tenant's `tenant.updated` has been handled (a catalog alone does not make a tenant)."""
    tenant = await storage.tenant(session, tenant_id)
    return tenant is not None and tenant.time_zone is not None


def consumers(deps: handlers.Deps, gate: TenantGate | None = None) -> list[Consumer]:
    """The consumers; with a `gate`, messages for tenants check-in does not know are refused."""

    def with_deps(handler, mine: Callable[[Message], bool] = lambda _: True) -> Handler:  # noqa: ANN001
        run = partial(handler, deps=deps)
        if gate is None:
            return run

        async def for_known_tenants(session: AsyncSession, message: Message, envelope: Envelope) -> None:
            if mine(message):
                await gate.require(session, envelope)
            await run(session, message, envelope)

        return for_known_tenants

    async def take_catalog(session: AsyncSession, message: CatalogUpdated, envelope: Envelope) -> None:
        if gate is not None and not await known_tenant(session, envelope.tenant_id):
            raise Undeliverable("unknown-tenant", f"a catalog for tenant {envelope.tenant_id!r}, whose tenant.updated never came first")
        await handlers.take_catalog(session, message, envelope, deps=deps)

    return [
        Consumer(name="bookings", topic=topics.BOOKING_CREATED, handlers={BookingCreated: with_deps(handlers.take_booking_created)}),
        Consumer(name="transitions", topic=topics.ORDER_TRANSITIONED, handlers={OrderTransitioned: with_deps(handlers.take_transition)}),
        Consumer(name=TENANTS, topic=topics.TENANT_UPDATED, handlers={
            TenantUpdated: partial(handlers.take_tenant, deps=deps), CatalogUpdated: take_catalog}),
        Consumer(name="customers", topic=topics.CUSTOMER_UPDATED, handlers={CustomerUpdated: with_deps(handlers.take_customer)}),
        Consumer(name="reminders", topic=topics.REMINDER_DUE, keys=reminder_keys(handlers.CHECKIN), handlers={ReminderDue: with_deps(
            handlers.send_link_when_due, lambda m: timer_owner(m.timer_key) == handlers.CHECKIN)}),
        Consumer(name="command-results", topic=topics.BOOKING_COMMAND_RESULTS, handlers={
            BookingCommandApplied: with_deps(handlers.take_command_result),
            BookingCommandRefused: with_deps(handlers.take_command_result)}),
    ]
