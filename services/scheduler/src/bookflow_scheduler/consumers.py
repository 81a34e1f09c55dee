"""Where timer requests enter: one consumer of `timer.requests`."""
from bookflow_contracts import CancelTimer, CancelTimersWithPrefix, SetTimer, topics
from bookflow_runtime.consumer import Consumer
from bookflow_scheduler import handlers

timer_requests = Consumer(
    name="timer-requests",
    topic=topics.TIMER_REQUESTS,
    handlers={
        SetTimer: handlers.set_timer,
        CancelTimer: handlers.cancel_timer,
        CancelTimersWithPrefix: handlers.cancel_timers_with_prefix,
    },
)
