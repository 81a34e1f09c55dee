"""Other services' events: kept in the recall service's own projection (order-proof, see
storage.projection), then passed on to book-again and recall where they change something."""
from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from bookflow_contracts import BookingCreated, CustomerUpdated, Envelope, NotificationStatusChanged, OrderTransitioned, TenantUpdated
from bookflow_recall.handlers import Deps
from bookflow_recall.handlers import book_again, recall
from bookflow_recall.storage import projection


async def tenant_updated(session: AsyncSession, event: TenantUpdated, envelope: Envelope, *, deps: Deps) -> None:
    """The tenant's name, zone and language (D1 counts days in the zone)."""
    await projection.save_tenant(session, projection.Tenant(envelope.tenant_id, event.name, event.time_zone, event.language),
                                 envelope.occurred_at)


async def customer_updated(session: AsyncSession, event: CustomerUpdated, envelope: Envelope, *, deps: Deps) -> None:
    """Contact details and consent (D1 needs consent; D4 stops reminders on contact changes)."""
    changed = set(event.changed_fields)
    await projection.save_customer(session, envelope.tenant_id, event.customer, envelope.occurred_at,
                                   consent=event.marketing_consent, consent_changed_at=event.consent_changed_at,
                                   contact_changed=bool(changed & {"name", "email", "phone"}))
    await book_again.on_customer_changed(session, deps, envelope.tenant_id, event.customer.customer_id, changed=changed,
                                         changed_at=envelope.occurred_at, consent=event.marketing_consent,
                                         consent_changed_at=event.consent_changed_at)
    await recall.sales_waiting_for(session, deps, envelope.tenant_id, event.customer.customer_id, event.customer.customer_number)


async def booking_created(session: AsyncSession, event: BookingCreated, envelope: Envelope, *, deps: Deps) -> None:
    """A booking enters the customer's history (recall criteria read it; D4: it may stop a
    book-again reminder; D5: it may come from one)."""
    tenant_id, customer = envelope.tenant_id, event.customer
    await projection.note_customer(session, tenant_id, customer, envelope.occurred_at)
    await projection.record_created(
        session, tenant_id, booking_id=event.booking_id, customer_id=customer.customer_id, service=event.service,
        starts_at=event.starts_at, ends_at=event.ends_at, state=event.state, version=event.booking_version, source=event.source,
        source_ref=event.source_ref, booked_at=envelope.occurred_at,
    )
    await book_again.on_booking_made(session, deps, tenant_id, booking_id=event.booking_id, customer_id=customer.customer_id,
                                     booked_at=envelope.occurred_at, source=event.source, source_ref=event.source_ref)


async def order_transitioned(session: AsyncSession, event: OrderTransitioned, envelope: Envelope, *, deps: Deps) -> None:
    """A booking completed, no-show, deleted, cancelled or moved: the newest version is kept
    (D4: deleting a reminder's booking stops the reminder)."""
    tenant_id = envelope.tenant_id
    if event.booking is not None:
        await projection.record_change(session, tenant_id, event.booking)
        deleted = event.booking.state == "deleted"
    else:
        await projection.record_state(session, tenant_id, event.booking_id, event.from_state, event.to_state)
        deleted = event.to_state == "deleted"
    if deleted:
        await book_again.on_booking_deleted(session, deps, tenant_id, event.booking_id)


async def notification_status(session: AsyncSession, event: NotificationStatusChanged, envelope: Envelope, *, deps: Deps) -> None:
    """Delivery and cost of this service's own messages (D3, D6, E4)."""
    if not await book_again.delivery_changed(session, event, envelope, deps):
        await recall.delivery_changed(session, event, envelope)
