"""Prometheus metrics shared by every service, served at /metrics."""

from prometheus_client import Counter, Histogram

MESSAGES_HANDLED = Counter("bookflow_messages_handled_total", "Messages handled, by consumer and type", ["consumer", "type"])
DUPLICATES_SKIPPED = Counter("bookflow_duplicates_skipped_total", "Redelivered messages the inbox recognised", ["consumer"])
DEAD_LETTERED = Counter("bookflow_dead_lettered_total", "Messages sent to the dead-letter topic", ["consumer", "reason"])
HANDLER_RETRIES = Counter("bookflow_handler_retries_total", "Handler attempts that failed and were retried", ["consumer"])
OUTBOX_PUBLISHED = Counter("bookflow_outbox_published_total", "Outbox messages published to Kafka")
BROKER_DATA_LOST = Counter("bookflow_broker_data_lost_total", "Times the broker was found without its topics (restarted empty)")
STOPS_ABANDONED = Counter("bookflow_stop_abandoned_batches_total", "Batches a stopping consumer abandoned after its grace period")
EVENT_LOOP_LAG = Histogram(
    "bookflow_event_loop_lag_seconds",
    "How late the event loop woke a task from a 100 ms sleep: what every request and message waits for behind other work in the process",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)
