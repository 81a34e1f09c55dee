"""Which broker and database the tests use: environment first, then containers when a Docker
engine answers, then local processes."""
from __future__ import annotations

import sys
import types

import pytest

from bookflow_devstack import infra


class FakeContainer:
    """Stands in for a testcontainers container on machines without Docker."""

    started = stopped = False

    def __init__(self, image: str, **kwargs) -> None:
        self.image, self.env = image, {}

    def with_kraft(self):
        return self

    def with_env(self, key: str, value: str):
        self.env[key] = value
        return self

    def start(self):
        self.started = True
        return self

    def stop(self) -> None:
        self.stopped = True

    def get_bootstrap_server(self) -> str:
        return "localhost:39092"

    def get_connection_url(self) -> str:
        return "postgresql://test:test@localhost:35432/test"


@pytest.fixture
def docker_engine(monkeypatch):
    monkeypatch.delenv("KAFKA_BOOTSTRAP_SERVERS", raising=False)
    monkeypatch.delenv("BOOKFLOW_TEST_DATABASE_URL", raising=False)
    monkeypatch.setattr(infra, "docker_answers", lambda: True)
    made = []

    def factory(image, **kwargs):
        made.append(FakeContainer(image, **kwargs))
        return made[-1]

    for module, name in (("testcontainers.community.kafka", "KafkaContainer"), ("testcontainers.community.postgres", "PostgresContainer")):
        monkeypatch.setitem(sys.modules, module, types.SimpleNamespace(**{name: factory}))
    return made


def test_servers_named_in_the_environment_come_first(monkeypatch, tmp_path):
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "kafka.internal:9092")
    monkeypatch.setenv("BOOKFLOW_TEST_DATABASE_URL", "postgresql://u:p@db.internal:5432/postgres")
    monkeypatch.setattr(infra, "docker_answers", lambda: pytest.fail("Docker must not be asked"))
    assert infra.kafka_for_tests().bootstrap_servers == "kafka.internal:9092"
    pg = infra.postgres_for_tests(tmp_path)
    assert pg.url("bookflow_booking") == "postgresql+asyncpg://u:p@db.internal:5432/bookflow_booking"


def test_with_a_docker_engine_the_tests_use_kafka_and_postgresql_containers(docker_engine, tmp_path):
    kafka = infra.kafka_for_tests()
    pg = infra.postgres_for_tests(tmp_path)
    kafka_container, pg_container = docker_engine
    assert kafka.bootstrap_servers == "localhost:39092"
    assert kafka_container.started and kafka_container.env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"
    assert pg.url("x") == "postgresql+asyncpg://test:test@localhost:35432/x"
    kafka.stop()
    pg.stop()
    assert kafka_container.stopped and pg_container.stopped


def test_without_docker_a_local_broker_starts_and_answers(monkeypatch):
    monkeypatch.delenv("KAFKA_BOOTSTRAP_SERVERS", raising=False)
    monkeypatch.setattr(infra, "docker_answers", lambda: False)
    kafka = infra.kafka_for_tests()
    try:
        host, port = kafka.bootstrap_servers.split(":")
        infra.wait_for_port(host, int(port), timeout=5)
        assert kafka.origin.startswith("tansu")
    finally:
        kafka.stop()
    assert infra.port_is_free(int(port))
