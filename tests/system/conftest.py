"""The five services as separate processes on the real broker and PostgreSQL."""
import os
import uuid
from pathlib import Path

import pytest

from bookflow_devstack.infra import free_port
from bookflow_devstack.processes import SERVICES, Stack


@pytest.fixture(scope="module")
def stack(kafka_server, postgres_server, tmp_path_factory) -> Stack:
    stack = Stack(
        kafka_server, postgres_server, tmp_path_factory.mktemp("logs"),
        {name: free_port() for name in SERVICES},
        database_prefix=f"bfsys_{os.getpid()}_{uuid.uuid4().hex[:6]}_",
    )
    stack.prepare(fresh=True)
    stack.start()
    yield stack
    stack.stop()
    stack.drop_databases()


