"""Composition root of the check-in service: its consumers, the attachment store and the sweep
of orphaned files, the staff API and the customers' check-in page."""
from collections.abc import Callable
from datetime import UTC, datetime

from fastapi import FastAPI

from bookflow_checkin import api, attachments, consumers, domain, handlers, page, storage, uploads
from bookflow_checkin.settings import CheckinSettings
from bookflow_contracts import (
    AddWorkLine, CancelTimer, ChangeCustomerContact, CheckinAnswered, CheckinItemHandled, CommentSharedWithMechanics,
    SendNotification, SetTimer, WithdrawNotifications,
)
from bookflow_runtime.loop import run_rounds
from bookflow_runtime.runtime import ServiceRuntime
from bookflow_runtime.tenants import TenantGate

PUBLISHES = (SetTimer, CancelTimer, SendNotification, WithdrawNotifications, ChangeCustomerContact, AddWorkLine,
             CheckinAnswered, CheckinItemHandled, CommentSharedWithMechanics)


def create_app(settings: CheckinSettings, *, store: attachments.AttachmentStore | None = None,
               clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> FastAPI:
    runtime = ServiceRuntime(
        settings,
        title="bookflow check-in",
        description="Online check-in before the visit (C1–C7): the link before the appointment, the customer's page with "
        "services, comments and files, and the receptionist's items.",
        publishes=PUBLISHES,
    )
    store = store or attachments.store_from(settings)
    deps = handlers.Deps(
        link_secret=settings.link_secret or "", public_url=settings.base_url(), store=store, clock=clock,
        limits=uploads.Limits(settings.max_file_bytes, settings.max_files_per_comment, frozenset(settings.accepted_types)),
        limiter=domain.AttemptLimit(settings.bad_link_attempts, settings.bad_link_window),
        link_max_age=settings.link_max_age,
    )
    gate = TenantGate(lambda: runtime.consumer_progress(consumers.TENANTS), consumers.known_tenant, service=settings.service_name,
                      wait_seconds=settings.unknown_tenant_wait_seconds)
    for consumer in consumers.consumers(deps, gate):
        runtime.consume(consumer)

    async def sweep() -> float:
        async def unknown(keys: list[str]) -> list[str]:
            async with runtime.db.transaction() as session:
                return await storage.unknown_keys(session, keys)

        await attachments.sweep_orphans(store, unknown, clock() - settings.orphan_sweep)
        return settings.orphan_sweep.total_seconds()

    async def sweeping() -> None:
        await run_rounds("orphaned files sweep", sweep)

    runtime.background(sweeping)
    app = runtime.http_app([api.router, page.router])
    app.state.deps = deps
    return app
