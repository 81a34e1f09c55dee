"""Composition root of the recall service: its consumers, the book-again sender, the recall
evaluation, and the staff API."""
from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from fastapi import FastAPI

from bookflow_contracts import AutoBook, CancelTimer, SendNotification, SetTimer, TillSaleRecorded, WithdrawNotifications
from bookflow_recall import api, book_again_api, consumers, recall_api
from bookflow_recall.handlers import Deps
from bookflow_recall.handlers.book_again import BookAgainSender
from bookflow_recall.handlers.evaluation import RecallEvaluation
from bookflow_recall.settings import RecallSettings
from bookflow_recall.storage import projection
from bookflow_runtime.loop import run_rounds
from bookflow_runtime.runtime import ServiceRuntime
from bookflow_runtime.tenants import TenantGate

PUBLISHES = (SetTimer, CancelTimer, SendNotification, WithdrawNotifications, AutoBook, TillSaleRecorded)


def create_app(settings: RecallSettings, clock: Callable[[], datetime] | None = None) -> FastAPI:
    runtime = ServiceRuntime(
        settings,
        title="bookflow recall",
        description="Book-again reminders and recalls, over its own projection of tenants, customers and their bookings.",
        publishes=PUBLISHES,
    )
    deps = Deps(settings, clock) if clock else Deps(settings)
    gate = TenantGate(lambda: runtime.consumer_progress(consumers.TENANTS), _known_tenant, service=settings.service_name,
                      wait_seconds=settings.unknown_tenant_wait_seconds)
    for consumer in consumers.consumers(deps, gate):
        runtime.consume(consumer)
    sender = BookAgainSender(runtime.db, runtime, deps)

    async def send_book_again_reminders() -> None:
        await run_rounds("book-again sending", sender.round, deps.sending)

    runtime.background(send_book_again_reminders)
    if settings.evaluate_in_background:
        runtime.background(RecallEvaluation(runtime.db, deps).run)
    app = runtime.http_app([api.router, book_again_api.router, recall_api.router])
    app.state.deps = deps
    return app


async def _known_tenant(session, tenant_id: str) -> bool:
    return await projection.tenant(session, tenant_id) is not None
