"""What the recall service does, one function per command or event."""
from sqlalchemy.ext.asyncio import AsyncSession

from bookflow_contracts import BookingCreated, Envelope
from bookflow_recall import storage


async def record_booking(session: AsyncSession, event: BookingCreated, envelope: Envelope) -> None:
    """Add the booking to the customer's history (the criteria of recall steps read it)."""
    await storage.upsert_booking(
        session, tenant_id=envelope.tenant_id, booking_id=event.booking_id, customer_id=event.customer.customer_id,
        service=event.service, starts_at=event.starts_at, state=event.state,
    )
