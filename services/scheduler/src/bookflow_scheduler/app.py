"""Composition root of the scheduler: consumers of timer requests, the firing loop, the HTTP API."""
from fastapi import FastAPI

from bookflow_contracts import ReminderDue
from bookflow_runtime.runtime import ServiceRuntime
from bookflow_scheduler import api, consumers
from bookflow_scheduler.handlers import TimerFiring
from bookflow_scheduler.settings import SchedulerSettings


def create_app(settings: SchedulerSettings) -> FastAPI:
    runtime = ServiceRuntime(
        settings,
        title="bookflow scheduler",
        description="Durable timers: set, reschedule and cancel over `timer.requests`; fired on `reminder.due`.",
        publishes=(ReminderDue,),
    )
    runtime.consume(consumers.timer_requests)
    firing = TimerFiring(runtime.db, batch_size=settings.fire_batch_size, poll_seconds=settings.poll_seconds)
    runtime.background(firing.run)
    return runtime.http_app([api.router])
