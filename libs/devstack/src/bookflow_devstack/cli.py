"""`bookflow`: run the whole system locally, run the tests, and look at topics.

    bookflow up        the five services and the staff console on embedded defaults (or on servers named in the environment)
    bookflow test      the whole test suite (what CI runs)
    bookflow topics    topics with message counts and each consumer group's lag
    bookflow tail T    a topic's messages as JSON lines (decoded envelopes)
    bookflow bench B   a benchmark from bench/ (scheduler, notification, recall, rush)
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from aiokafka.errors import KafkaError

from bookflow_devstack import infra
from bookflow_devstack.processes import CONSOLE, DEFAULT_PORTS, SERVICES, Stack, StartFailed

ROOT = Path(__file__).resolve().parents[4]
STATE = Path(os.environ.get("BOOKFLOW_STATE_DIR") or ROOT / ".bookflow")


def _database_urls() -> dict[str, str]:
    return {n: os.environ[f"BOOKFLOW_{n.upper()}_DATABASE_URL"] for n in SERVICES if os.environ.get(f"BOOKFLOW_{n.upper()}_DATABASE_URL")}


def up(args: argparse.Namespace) -> int:
    """Start broker and database unless given, migrate, start the services, wait for Ctrl-C."""
    STATE.mkdir(exist_ok=True)
    started: list = []
    stack: Stack | None = None
    stopping = False

    def on_signal(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    # Local runs are development mode unless the caller says otherwise (and brings real secrets):
    # public development secrets and the sandbox channel, which shows every message sent.
    development_mode = os.environ.setdefault("BOOKFLOW_DEVELOPMENT", "1") not in ("0", "false", "")
    ports = {name: args.base_port + i for i, name in enumerate(SERVICES)}
    ports[CONSOLE] = args.base_port - 1  # the console just below the services: 8100 by default
    taken = [f"port {port} for {name} is taken" for name, port in ports.items() if not infra.port_is_free(port)]
    if taken:  # said before the broker and database start, which take a while and would only stop again
        print(f"bookflow up: {'; '.join(taken)}; stop what uses it or choose other ports (--base-port)", file=sys.stderr)
        return 1
    try:
        if os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
            kafka = infra.Kafka(os.environ["KAFKA_BOOTSTRAP_SERVERS"], "KAFKA_BOOTSTRAP_SERVERS")
        else:
            kafka = infra.start_tansu(args.kafka_port, STATE / "tansu.log")
            started.append(kafka)
        urls = _database_urls()
        if len(urls) == len(SERVICES):
            postgres = infra.Postgres("postgresql://unused@/", "per-service database URLs")
        else:
            postgres = infra.start_embedded_postgres(STATE / "pgdata")
            started.append(postgres)
        stack = Stack(kafka, postgres, STATE / "logs", ports, database_urls=urls)
        print(f"broker:   {kafka.bootstrap_servers} ({kafka.origin})")
        print(f"database: {postgres.origin}")
        stack.prepare((*SERVICES, CONSOLE))
        stack.start()
    except (StartFailed, RuntimeError, TimeoutError, OSError) as exc:
        print(f"bookflow up: {exc}", file=sys.stderr)
        if stack:
            stack.stop()
        for thing in reversed(started):
            thing.stop()
        return 1
    print("\nbookflow is running:")
    print(f"  {'console':<13} {stack.services[CONSOLE].url}   (the staff console; log {stack.services[CONSOLE].log_path})")
    for name, svc in stack.services.items():
        if name != CONSOLE:
            print(f"  {name:<13} {svc.url}   (API docs {svc.url}/docs, log {svc.log_path})")
    if development_mode:
        print(f"  sandbox      {stack.services['notification'].url}/sandbox   (every message sent; answer SMS as the customer)")
        print("Development mode (BOOKFLOW_DEVELOPMENT=1): public development secrets, operator token "
              "bookflow-development-admin-token, and the sandbox; never expose this to the internet.")
    print("Ctrl-C stops everything.", flush=True)
    code = 0
    while not stopping:
        dead = [n for n, s in stack.services.items() if not s.alive()]
        if dead:
            print(f"bookflow up: {', '.join(dead)} stopped unexpectedly; see {STATE / 'logs'}", file=sys.stderr)
            code = 1
            break
        time.sleep(0.2)
    print("stopping…", flush=True)
    stack.stop()
    for thing in reversed(started):
        thing.stop()
    return code


def run_tests(args: argparse.Namespace) -> int:
    """The whole suite: unit, integration and system tests (what CI runs)."""
    result = subprocess.run([sys.executable, "-m", "pytest", *args.pytest_args], cwd=ROOT)
    return result.returncode


def bench_command(args: argparse.Namespace) -> int:
    """Install the benchmark's peers (bench/requirements.txt) and run bench/<name>/run.py."""
    script = ROOT / "bench" / args.name / "run.py"
    if not script.exists():
        print(f"bookflow bench: no benchmark {args.name!r} (bench/*/run.py)", file=sys.stderr)
        return 1
    requirements = ROOT / "bench" / "requirements.txt"
    if requirements.exists():
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "-r", str(requirements)], check=True)
    return subprocess.run([sys.executable, str(script), *args.bench_args], cwd=ROOT).returncode


def topics_command(args: argparse.Namespace) -> int:
    from bookflow_devstack import ops

    try:
        rows = asyncio.run(ops.topic_report(args.bootstrap_servers))
    except KafkaError as exc:
        print(f"bookflow topics: cannot reach Kafka at {args.bootstrap_servers}: {exc}", file=sys.stderr)
        return 1
    print(ops.format_report(rows))
    return 0


def tail_command(args: argparse.Namespace) -> int:
    from bookflow_devstack import ops

    try:
        asyncio.run(
            ops.tail(args.bootstrap_servers, args.topic, from_beginning=args.from_beginning,
                     follow=args.follow, limit=args.limit, out=sys.stdout)
        )
    except KeyboardInterrupt:
        pass
    except (KafkaError, ValueError) as exc:
        print(f"bookflow tail: {exc}", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bookflow", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("up", help="run the whole system")
    p.add_argument("--kafka-port", type=int, default=9092, help="port of the local broker (default 9092)")
    p.add_argument("--base-port", type=int, default=DEFAULT_PORTS["booking"],
                   help="first service port (default 8101); the console listens on the port below it (8100)")
    p.set_defaults(func=up)
    p = sub.add_parser("test", help="run the test suite; extra arguments go to pytest")
    p.add_argument("pytest_args", nargs=argparse.REMAINDER)
    p.set_defaults(func=run_tests)
    p = sub.add_parser("bench", help="run a benchmark: bench/<name>/run.py (extra arguments go to it)")
    p.add_argument("name")
    p.add_argument("bench_args", nargs=argparse.REMAINDER)
    p.set_defaults(func=bench_command)
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
    p = sub.add_parser("topics", help="topics, message counts and consumer-group lag")
    p.add_argument("--bootstrap-servers", default=bootstrap)
    p.set_defaults(func=topics_command)
    p = sub.add_parser("tail", help="print a topic's messages as JSON lines")
    p.add_argument("topic")
    p.add_argument("--bootstrap-servers", default=bootstrap)
    p.add_argument("--from-beginning", action="store_true")
    p.add_argument("-f", "--follow", action="store_true", help="keep waiting for new messages")
    p.add_argument("-n", "--limit", type=int, default=None)
    p.set_defaults(func=tail_command)
    args, extra = parser.parse_known_args(argv)
    if extra and args.command == "test":
        args.pytest_args = [*extra, *args.pytest_args]  # `bookflow test -q -k flow`: pytest's options
    elif extra and args.command == "bench":
        args.bench_args = [*extra, *args.bench_args]
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
