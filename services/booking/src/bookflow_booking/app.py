"""Composition root of the booking service: its consumers and its HTTP API."""
from fastapi import FastAPI

from bookflow_booking import api, consumers
from bookflow_booking.settings import BookingSettings
from bookflow_runtime.service import ServiceRuntime


def create_app(settings: BookingSettings) -> FastAPI:
    runtime = ServiceRuntime(
        settings,
        title="bookflow booking",
        description="Customers and bookings; publishes `booking.created`, asks for notices and timers.",
    )
    runtime.consume(consumers.reminders)
    return runtime.http_app([api.router])
