"""Where booking events enter the check-in service."""
from bookflow_checkin import handlers
from bookflow_contracts import BookingCreated, topics
from bookflow_runtime.consumer import Consumer

bookings = Consumer(name="bookings", topic=topics.BOOKING_CREATED, handlers={BookingCreated: handlers.record_appointment})
