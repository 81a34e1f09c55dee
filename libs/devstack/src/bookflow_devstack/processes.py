"""The five services as separate processes: migrate each one's database, start, wait until ready,
kill, restart. `bookflow up` and the system tests use the same code."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from bookflow_devstack.infra import Kafka, Postgres, port_is_free

SERVICES = ("booking", "notification", "scheduler", "recall", "checkin")
DEFAULT_PORTS = {"booking": 8101, "notification": 8102, "scheduler": 8103, "recall": 8104, "checkin": 8105}
CONSOLE = "console"
"""The staff console: a web app with no database and no consumers, talking to the services' HTTP
APIs; started after them, on the port just below the first service's (8100 by default)."""


class StartFailed(RuntimeError):
    """A service did not become ready; the message says why and where its log is."""


@dataclass
class ServiceProcess:
    """One service process with its environment; its output goes to `log_path`."""

    name: str
    port: int
    env: dict[str, str]
    log_path: Path
    proc: subprocess.Popen | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def migrate(self) -> None:
        if self.name == CONSOLE:
            return  # no database
        result = subprocess.run(
            [sys.executable, "-m", f"bookflow_{self.name}", "migrate"],
            env=self.env, capture_output=True, text=True, timeout=120,
        )
        if result.returncode != 0:
            raise StartFailed(f"migrations of {self.name} failed:\n{result.stderr[-3000:]}")

    def start(self, extra_env: dict[str, str] | None = None) -> None:
        """Start the process (not waiting for it to be ready)."""
        if not port_is_free(self.port):
            raise StartFailed(f"port {self.port} for {self.name} is taken; stop what uses it or choose other ports")
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", f"bookflow_{self.name}"],
            env={**self.env, **(extra_env or {})}, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        log.close()

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is None or self.proc.poll() is not None:
                raise StartFailed(f"{self.name} exited during start-up; last lines of {self.log_path}:\n{self.tail()}")
            try:
                if httpx.get(f"{self.url}/health/ready", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise StartFailed(f"{self.name} not ready after {timeout:.0f} s; see {self.log_path}:\n{self.tail()}")

    def wait_exit(self, timeout: float) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout: float = 15) -> None:
        """SIGTERM, then SIGKILL if it does not go."""
        if not self.alive():
            return
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    def kill(self) -> None:
        """SIGKILL: the process gets no chance to finish anything."""
        if self.alive():
            assert self.proc is not None
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


def service_env(name: str, kafka: Kafka, database_url: str, port: int, extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of one service process."""
    prefix = f"BOOKFLOW_{name.upper()}_"
    env = {k: v for k, v in os.environ.items() if not k.startswith("BOOKFLOW_")}
    env.update({
        "KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
        f"{prefix}DATABASE_URL": database_url,
        f"{prefix}HTTP_HOST": "127.0.0.1",
        f"{prefix}HTTP_PORT": str(port),
        "PYTHONUNBUFFERED": "1",
    })
    env.update({k: v for k, v in os.environ.items() if k.startswith("BOOKFLOW_") and not k.startswith("BOOKFLOW_TEST")})
    env.update(extra or {})
    return env


@dataclass
class Stack:
    """The five services on one broker and one PostgreSQL server, each with its own database."""

    kafka: Kafka
    postgres: Postgres
    log_dir: Path
    ports: dict[str, int]
    database_prefix: str = "bookflow_"
    database_urls: dict[str, str] = field(default_factory=dict)
    extra_env: dict[str, dict[str, str]] = field(default_factory=dict)
    services: dict[str, ServiceProcess] = field(default_factory=dict)

    def prepare(self, names: tuple[str, ...] = SERVICES, *, fresh: bool = False) -> None:
        """Create each service's database and run its migrations."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        for name in names:
            if name == CONSOLE:
                url = ""
            else:
                url = self.database_urls.get(name) or self.postgres.create_database(f"{self.database_prefix}{name}", fresh=fresh)
            svc = ServiceProcess(
                name, self.ports[name],
                service_env(name, self.kafka, url, self.ports[name], {**self._links(name), **self.extra_env.get(name, {})}),
                self.log_dir / f"{name}.log",
            )
            svc.migrate()
            self.services[name] = svc

    @property
    def letters_dir(self) -> Path:
        """The notification service's letters root: tenants' letter folders are under it."""
        return self.log_dir.parent / "letters"

    def _links(self, name: str) -> dict[str, str]:
        """Where a service keeps files, and the public addresses it links to (no service calls another over HTTP)."""
        if name == "booking" and "checkin" in self.ports:
            return {"BOOKFLOW_BOOKING_CHECKIN_PUBLIC_URL": f"http://127.0.0.1:{self.ports['checkin']}"}
        if name == "notification":
            return {"BOOKFLOW_NOTIFICATION_LETTERS_DIR": str(self.letters_dir)}
        if name == "recall" and "booking" in self.ports:  # book-again and recall links lead to booking's online booking page
            return {"BOOKFLOW_RECALL_BOOKING_PUBLIC_URL": f"http://127.0.0.1:{self.ports['booking']}"}
        if name == CONSOLE:
            return {f"BOOKFLOW_CONSOLE_{service.upper()}_URL": f"http://127.0.0.1:{port}" for service, port in self.ports.items()
                    if service in SERVICES}
        return {}

    def start(self, names: tuple[str, ...] | None = None, timeout: float = 60) -> None:
        """Start the services and wait until each is ready; on failure stop them all and raise."""
        chosen = [self.services[n] for n in (names or tuple(self.services))]
        try:
            for svc in chosen:
                svc.start()
            for svc in chosen:
                svc.wait_ready(timeout)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        for svc in self.services.values():
            if svc.alive():
                assert svc.proc is not None
                svc.proc.send_signal(signal.SIGTERM)
        for svc in self.services.values():
            svc.stop()

    def drop_databases(self) -> None:
        for name in self.services:
            if name == CONSOLE:
                continue
            self.postgres.drop_database(f"{self.database_prefix}{name}")
