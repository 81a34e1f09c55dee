"""Composition root of the notification service."""
from collections.abc import Callable
from datetime import UTC, datetime

from fastapi import FastAPI

from bookflow_contracts import NotificationStatusChanged, ReplyReceived
from bookflow_notification import api, consumers, sandbox, sealing, webhooks
from bookflow_notification.dispatcher import Dispatcher
from bookflow_notification.settings import NotificationSettings
from bookflow_runtime.runtime import ServiceRuntime


def create_app(settings: NotificationSettings, *, clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> FastAPI:
    runtime = ServiceRuntime(
        settings,
        title="bookflow notification",
        description=(
            "Sends what `notification.requests` asks for by SMS (46elks, Twilio), e-mail or letter, and withdraws what is "
            "withdrawn there; reports on `notification.status`; customers' answers go out on `reply.received`."
        ),
        publishes=(NotificationStatusChanged, ReplyReceived),
    )
    sealing.configure(settings.secrets_key)  # after the runtime set up logging: its warning is a log line
    for consumer in consumers.consumers(settings):
        runtime.consume(consumer)
    dispatcher = Dispatcher(runtime.db, settings, clock=clock, tenants_caught_up=lambda: runtime.caught_up_at(consumers.TENANTS),
                            withdrawals_caught_up=lambda: runtime.caught_up_at(consumers.WITHDRAWALS))
    runtime.background(dispatcher.run)
    routers = [api.router, webhooks.router, *([sandbox.router] if settings.sandbox_enabled else [])]
    return runtime.http_app(routers)
