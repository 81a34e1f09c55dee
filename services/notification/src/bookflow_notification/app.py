"""Composition root of the notification service."""
from collections.abc import Callable
from datetime import UTC, datetime

from fastapi import FastAPI

from bookflow_notification import api, consumers, sandbox, sealing, webhooks
from bookflow_notification.dispatcher import Dispatcher
from bookflow_notification.settings import NotificationSettings
from bookflow_contracts import NotificationStatusChanged, ReplyReceived
from bookflow_runtime.runtime import ServiceRuntime


def create_app(settings: NotificationSettings, *, clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> FastAPI:
    runtime = ServiceRuntime(
        settings,
        title="bookflow notification",
        description=(
            "Sends what `notification.requests` asks for by SMS (46elks, Twilio, sandbox), e-mail or letter; "
            "reports on `notification.status`; customers' answers go out on `reply.received`."
        ),
        publishes=(NotificationStatusChanged, ReplyReceived),
    )
    sealing.configure(settings.secrets_key)  # after the runtime set up logging: its warning is a log line
    runtime.consume(consumers.requests)
    runtime.consume(consumers.tenants)
    runtime.consume(consumers.customers)
    dispatcher = Dispatcher(runtime.db, settings, clock=clock)
    runtime.background(dispatcher.run)
    app = runtime.http_app([api.router, webhooks.router, sandbox.router])
    app.state.dispatcher = dispatcher
    return app
