"""Where booking events enter the recall service."""
from bookflow_contracts import BookingCreated, topics
from bookflow_recall import handlers
from bookflow_runtime.consumer import Consumer

bookings = Consumer(name="bookings", topic=topics.BOOKING_CREATED, handlers={BookingCreated: handlers.record_booking})
