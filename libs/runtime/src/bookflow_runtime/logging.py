"""Structured JSON logs, one object per line, each carrying the service and the conversation."""

from __future__ import annotations

import logging
import sys

from pythonjsonlogger.json import JsonFormatter

from bookflow_runtime import context


class _ConversationFilter(logging.Filter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def filter(self, record: logging.LogRecord) -> bool:
        record.service = self.service
        conv = context.current()
        record.correlation_id = conv.correlation_id if conv else None
        record.event_id = conv.event_id if conv else None
        record.tenant_id = conv.tenant_id if conv else None
        record.__dict__.pop("color_message", None)  # uvicorn's ANSI copy of the message
        return True


def configure(service: str, level: str = "INFO") -> None:
    """Send every log record of the process to stdout as JSON."""
    handler = logging.StreamHandler(sys.stdout)
    handler.addFilter(_ConversationFilter(service))
    handler.setFormatter(
        JsonFormatter(
            "{levelname}{name}{message}{service}{correlation_id}{event_id}{tenant_id}",
            style="{",
            rename_fields={"levelname": "level", "name": "logger"},
            timestamp="time",
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in [n for n in logging.root.manager.loggerDict if n.startswith("uvicorn")]:
        # uvicorn brings their own plain-text handlers: route it through ours.
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True
    # aiokafka reports every reconnect attempt at ERROR; the runtime reports outages itself.
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL if level.upper() != "DEBUG" else logging.DEBUG)
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
