"""The five services as separate processes on the real broker and PostgreSQL."""
import os
import uuid

import pytest

from bookflow_devstack.infra import free_port
from bookflow_devstack.processes import SERVICES, Stack


@pytest.fixture(scope="session")
def kafka_server(_shared_kafka):
    """One broker for all system tests: they share one running system (tenants keep them apart)."""
    from bookflow_devstack.infra import start_tansu

    if _shared_kafka is not None:
        yield _shared_kafka
        return
    kafka = start_tansu()
    yield kafka
    kafka.stop()


@pytest.fixture(scope="session")
def stack(kafka_server, postgres_server, tmp_path_factory) -> Stack:
    """The five services as processes, started once for all system tests."""
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


