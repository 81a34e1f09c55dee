"""Outside development mode a service refuses to start without its secrets, and says which to set.
Each service is started as operators start it, `python -m bookflow_<name>`, with nothing in its
environment but a database address."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from bookflow_runtime import development

SERVICES = ("booking", "notification", "scheduler", "recall", "checkin")
EVERY_SERVICE_NEEDS = ("BOOKFLOW_OPERATOR_TOKEN", "BOOKFLOW_LINK_SECRET", "BOOKFLOW_STAFF_TOKEN_PUBLIC_KEY")
ALSO = {"booking": ("BOOKFLOW_BOOKING_STAFF_TOKEN_PRIVATE_KEY",), "notification": ("BOOKFLOW_NOTIFICATION_SECRETS_KEY",)}


def start(name: str, **env: str) -> subprocess.CompletedProcess:
    clean = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/tmp"),
             f"BOOKFLOW_{name.upper()}_DATABASE_URL": f"postgresql+asyncpg://bookflow@127.0.0.1:1/{name}", **env}
    return subprocess.run([sys.executable, "-m", f"bookflow_{name}"], env=clean, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("name", SERVICES)
def test_a_service_without_secrets_refuses_to_start_and_names_each_missing_variable(name: str):
    started = start(name)
    assert started.returncode != 0
    said = started.stderr + started.stdout
    for variable in (*EVERY_SERVICE_NEEDS, *ALSO.get(name, ())):
        assert variable in said, f"{name} did not name {variable}:\n{said[-2000:]}"
    assert "Traceback" not in said, said[-2000:]


def test_a_service_given_the_public_development_secrets_refuses_them_outside_development_mode():
    started = start("scheduler", BOOKFLOW_OPERATOR_TOKEN=development.OPERATOR_TOKEN, BOOKFLOW_LINK_SECRET=development.LINK_SECRET,
                    BOOKFLOW_STAFF_TOKEN_PUBLIC_KEY=development.STAFF_TOKEN_PUBLIC_KEY)
    assert started.returncode != 0
    said = started.stderr + started.stdout
    assert all(variable in said for variable in EVERY_SERVICE_NEEDS), said[-2000:]


def test_a_service_run_as_two_workers_without_secrets_says_so_once_and_exits():
    started = start("notification", BOOKFLOW_NOTIFICATION_WORKERS="2")
    assert started.returncode != 0
    said = started.stderr + started.stdout
    assert said.count("BOOKFLOW_NOTIFICATION_SECRETS_KEY") == 1, said[-2000:]
