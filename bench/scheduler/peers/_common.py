"""What the peers share: the command line, the due file, the ready file, the Kafka producer and
the bookkeeping of which measured timers have fired.

Every peer imports this module so that the command line and the published record are the same
for all of them. The producer is configured like bookflow's own (`bookflow_runtime.kafka.
new_producer`): acks=all, no idempotence (the local broker lacks it), linger 5 ms, 256 KiB
batches, so the comparison is not skewed by producer settings.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from aiokafka import AIOKafkaProducer

FAR_FUTURE_S = 86_400.0  # filler timers are due one day after loading: never fired in a run

T = TypeVar("T")


def parse_args(description: str | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dsn", required=True, help="postgresql://postgres@127.0.0.1:5432/DBNAME (an empty database)")
    p.add_argument("--bootstrap", required=True, help="Kafka bootstrap HOST:PORT")
    p.add_argument("--topic", required=True, help="topic to publish each firing to (exists already)")
    p.add_argument("--due-file", required=True, help='one line per measured timer: "<id> <offset_seconds>"')
    p.add_argument("--filler", type=int, default=0, help="extra timers due in one day, loaded first, never fired")
    p.add_argument("--lead", type=float, default=10.0, help="start instant = start of measured load + lead")
    p.add_argument("--ready-file", required=True, help="JSON written when loading is done")
    return p.parse_args()


def quiet_logging() -> None:
    """Only warnings and errors, on stderr; the harness reads the ready file and the topic only."""
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger().setLevel(logging.WARNING)


def _parse_id(text: str) -> int | str:
    try:
        return int(text)
    except ValueError:
        return text


def read_due_file(path: str) -> list[tuple[int | str, float]]:
    rows: list[tuple[int | str, float]] = []
    with open(path) as f:
        for line in f:
            parts = line.split()
            if not parts:
                continue
            rows.append((_parse_id(parts[0]), float(parts[1])))
    return rows


def chunks(items: Sequence[T] | Iterable[T], size: int) -> Iterator[list[T]]:
    batch: list[T] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def write_ready(path: str, *, filler_load_s: float, measured_load_s: float, start_epoch: float, lead: float) -> None:
    data = {
        "filler_load_s": filler_load_s,
        "measured_load_s": measured_load_s,
        "start_epoch": start_epoch,
        "load_overran": measured_load_s > lead,
    }
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w") as f:
        json.dump(data, f)
    os.replace(tmp, path)  # the harness never sees a half-written file


def new_producer(bootstrap: str) -> AIOKafkaProducer:
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        enable_idempotence=False,
        linger_ms=5,
        max_batch_size=256 * 1024,
        request_timeout_ms=15000,
    )


def record(timer_id: int | str, due: float) -> tuple[bytes, bytes]:
    """(key, value) of the message published when a timer fires."""
    return str(timer_id).encode(), json.dumps({"id": timer_id, "due": due}).encode()


@dataclass
class Firings:
    """Which measured timers are still to fire; `done` is set when none is left.

    A timer that fires twice (at-least-once redelivery) is published twice: the harness counts
    duplicates from the topic."""

    remaining: set[int | str]
    done: asyncio.Event = field(default_factory=asyncio.Event)
    fired: int = 0

    def __post_init__(self) -> None:
        if not self.remaining:
            self.done.set()

    def mark(self, timer_id: int | str) -> None:
        self.fired += 1
        self.remaining.discard(timer_id)
        if not self.remaining:
            self.done.set()


async def publish(producer: AIOKafkaProducer, topic: str, firings: Firings, timer_id: int | str, due: float) -> None:
    """Publish one firing and wait until the broker acknowledges it (at-least-once)."""
    key, value = record(timer_id, due)
    await producer.send_and_wait(topic, value=value, key=key)
    firings.mark(timer_id)


def now() -> float:
    return time.time()
