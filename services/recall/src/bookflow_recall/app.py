"""Composition root of the recall service."""
from fastapi import FastAPI

from bookflow_recall import api, consumers
from bookflow_recall.settings import RecallSettings
from bookflow_runtime.runtime import ServiceRuntime


def create_app(settings: RecallSettings) -> FastAPI:
    runtime = ServiceRuntime(
        settings,
        title="bookflow recall",
        description="Recalls and book-again reminders; keeps its own history of each customer's bookings.",
    )
    runtime.consume(consumers.bookings)
    return runtime.http_app([api.router])
