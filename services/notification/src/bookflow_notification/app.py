"""Composition root of the notification service."""
from fastapi import FastAPI

from bookflow_notification import api, consumers
from bookflow_notification.settings import NotificationSettings
from bookflow_runtime.service import ServiceRuntime


def create_app(settings: NotificationSettings) -> FastAPI:
    runtime = ServiceRuntime(
        settings,
        title="bookflow notification",
        description="Sends what `notification.requests` asks for; reports on `notification.status`.",
    )
    runtime.consume(consumers.requests)
    return runtime.http_app([api.router])
