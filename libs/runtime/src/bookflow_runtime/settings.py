"""Settings every service reads from its environment (pydantic-settings).

Each service subclasses `ServiceSettings` with `env_prefix="BOOKFLOW_<NAME>_"`; the Kafka
address is shared by all services and read from `KAFKA_BOOTSTRAP_SERVERS`.
"""

from __future__ import annotations

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ServiceSettings(BaseSettings):
    """Settings common to every service. Subclasses set the env prefix and add their own."""

    model_config = SettingsConfigDict(extra="ignore", validate_by_name=True, validate_by_alias=True)

    service_name: str = Field(description="Short name, such as `booking`; names the consumer groups.")
    database_url: str = Field(description="SQLAlchemy URL of this service's own database (postgresql+asyncpg://…).")
    kafka_bootstrap_servers: str = Field(
        "127.0.0.1:9092",
        validation_alias=AliasChoices("KAFKA_BOOTSTRAP_SERVERS", "BOOKFLOW_KAFKA_BOOTSTRAP_SERVERS"),
        description="Comma-separated Kafka brokers.",
    )
    topic_partitions: int = Field(
        4, ge=1, validation_alias=AliasChoices("BOOKFLOW_TOPIC_PARTITIONS"), description="Partitions for topics this service creates."
    )
    topic_replication: int = Field(1, ge=1, validation_alias=AliasChoices("BOOKFLOW_TOPIC_REPLICATION"))
    broker_wait_seconds: float = Field(
        20.0, gt=0, validation_alias=AliasChoices("BOOKFLOW_BROKER_WAIT_SECONDS"),
        description="How long to wait for the broker at start-up before refusing to start.",
    )
    consumer_session_timeout_ms: int = Field(
        6000, ge=6000, validation_alias=AliasChoices("BOOKFLOW_CONSUMER_SESSION_TIMEOUT_MS"),
        description="Kafka consumer session timeout; Apache Kafka refuses less than 6 s by default.",
    )
    consumer_batch_size: int = Field(
        500, ge=1, validation_alias=AliasChoices("BOOKFLOW_CONSUMER_BATCH_SIZE"),
        description="Most records handled in one transaction and acknowledged with one offset commit.",
    )
    handler_attempts: int = Field(
        3, ge=1, validation_alias=AliasChoices("BOOKFLOW_HANDLER_ATTEMPTS"),
        description="Tries before a failing message goes to the dead-letter topic.",
    )
    workers: int = Field(1, ge=1, description="Processes serving this service (each a full replica); more use more cores.")
    relay_poll_seconds: float = Field(
        0.2, gt=0, validation_alias=AliasChoices("BOOKFLOW_RELAY_POLL_SECONDS"),
        description="How often the outbox relay looks for rows when nothing woke it: a commit wakes the relay of its "
        "own process at once; rows committed by another worker or replica wait for this poll.",
    )
    gc_threshold: int = Field(
        50_000, ge=0, validation_alias=AliasChoices("BOOKFLOW_GC_THRESHOLD"),
        description="Allocations between collections of the youngest generation (CPython's default is 700; 0 keeps it).",
    )
    http_host: str = Field("127.0.0.1", description="Where the HTTP API listens.")
    http_port: int = Field(8000, ge=0, le=65535, description="HTTP port.")
    log_level: str = Field("INFO", validation_alias=AliasChoices("BOOKFLOW_LOG_LEVEL"))
    staff_token_secret: str = Field(
        "bookflow-development-secret-change-me-before-use", validation_alias=AliasChoices("BOOKFLOW_STAFF_TOKEN_SECRET"),
        description="Signs staff bearer tokens; the same in every service.",
    )
    link_secret: str = Field(
        "bookflow-development-secret-change-me-before-use", validation_alias=AliasChoices("BOOKFLOW_LINK_SECRET"),
        description="Signs customers' links (My pages, check-in); the same in every service.",
    )
    faults: str = Field(
        "", validation_alias=AliasChoices("BOOKFLOW_FAULTS"),
        description="Test-only: comma-separated fault points at which the process exits (see faults.py).",
    )
