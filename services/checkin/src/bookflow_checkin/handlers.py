"""What the check-in service does, one function per command or event."""
from sqlalchemy.ext.asyncio import AsyncSession

from bookflow_checkin import storage
from bookflow_contracts import BookingCreated, Envelope


async def record_appointment(session: AsyncSession, event: BookingCreated, envelope: Envelope) -> None:
    """Keep the appointment, so its check-in page can be offered before the visit (C1)."""
    await storage.add_appointment(
        session, tenant_id=envelope.tenant_id, booking_id=event.booking_id, customer_id=event.customer.customer_id,
        customer_name=event.customer.name, service=event.service, starts_at=event.starts_at, state=event.state,
    )
