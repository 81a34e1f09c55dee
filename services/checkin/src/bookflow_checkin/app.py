"""Composition root of the check-in service."""
from fastapi import FastAPI

from bookflow_checkin import api, consumers
from bookflow_checkin.settings import CheckinSettings
from bookflow_runtime.runtime import ServiceRuntime


def create_app(settings: CheckinSettings) -> FastAPI:
    runtime = ServiceRuntime(
        settings,
        title="bookflow check-in",
        description="Online check-in before the visit; learns of appointments from `booking.created`.",
    )
    runtime.consume(consumers.bookings)
    return runtime.http_app([api.router])
