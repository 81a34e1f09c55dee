"""Settings every service reads from its environment (pydantic-settings).

Each service subclasses `ServiceSettings` with `env_prefix="BOOKFLOW_<NAME>_"`; the Kafka
address is shared by all services and read from `KAFKA_BOOTSTRAP_SERVERS`.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import AliasChoices, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bookflow_runtime import development


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
    consumer_fetch_wait_ms: int = Field(
        50, ge=1, validation_alias=AliasChoices("BOOKFLOW_CONSUMER_FETCH_WAIT_MS"),
        description="Longest a fetch waits for records while a consumer has work (the broker answers as soon as "
        "records arrive on Apache Kafka; the embedded development broker answers only when the wait ends).",
    )
    consumer_idle_fetch_wait_ms: int = Field(
        250, ge=1, validation_alias=AliasChoices("BOOKFLOW_CONSUMER_IDLE_FETCH_WAIT_MS"),
        description="The same, once a consumer has found nothing for a second: an idle service polls the broker a few "
        "times a second, not twenty. On a broker that answers only when the wait ends, the first record after a "
        "quiet spell is read up to this late.",
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
    broker_watch_seconds: float = Field(
        10.0, gt=0, validation_alias=AliasChoices("BOOKFLOW_BROKER_WATCH_SECONDS"),
        description="How often the service checks that the broker still has its topics.",
    )
    stop_seconds: float = Field(
        10.0, ge=1, validation_alias=AliasChoices("BOOKFLOW_STOP_SECONDS"),
        description="Asked to stop, the service finishes or abandons in-flight work and exits within this time.",
    )
    gc_threshold: int = Field(
        50_000, ge=0, validation_alias=AliasChoices("BOOKFLOW_GC_THRESHOLD"),
        description="Allocations between collections of the youngest generation (CPython's default is 700; 0 keeps it).",
    )
    http_host: str = Field("127.0.0.1", description="Where the HTTP API listens.")
    http_port: int = Field(8000, ge=0, le=65535, description="HTTP port.")
    log_level: str = Field("INFO", validation_alias=AliasChoices("BOOKFLOW_LOG_LEVEL"))
    public_url: str = Field(
        "", description="Where customers and providers reach this service (links in messages, webhook addresses), "
        "such as https://book.example.com behind a proxy; empty: http://HOST:PORT of this process.",
    )
    development: bool = Field(
        False, validation_alias=AliasChoices(development.ENVIRONMENT_FLAG),
        description="Development mode: the public development secrets fill in for missing ones and the sandbox may run. "
        "Never in production.",
    )
    operator_token: str | None = Field(
        None, validation_alias=AliasChoices("BOOKFLOW_OPERATOR_TOKEN"),
        description="Bearer token of operators' routes (creating tenants, looking up timers).",
    )
    link_secret: str | None = Field(
        None, min_length=32, validation_alias=AliasChoices("BOOKFLOW_LINK_SECRET"),
        description="Signs customers' links (My pages, check-in, online booking); the same in every service.",
    )
    staff_token_public_key: str | None = Field(
        None, validation_alias=AliasChoices("BOOKFLOW_STAFF_TOKEN_PUBLIC_KEY"),
        description="PEM public key (Ed25519) that verifies staff tokens; the booking service alone holds the private key.",
    )
    faults: str = Field(
        "", validation_alias=AliasChoices("BOOKFLOW_FAULTS"),
        description="Test-only: comma-separated fault points at which the process exits (see faults.py).",
    )

    secrets: ClassVar[tuple[str, ...]] = ("operator_token", "link_secret", "staff_token_public_key")
    """Fields a service cannot run without; subclasses add their own."""

    @model_validator(mode="after")
    def _development_fills_in(self) -> "ServiceSettings":
        if self.development:
            for name in self.secrets:
                if getattr(self, name) is None:
                    setattr(self, name, development.SECRETS[name])
        return self

    def missing_secrets(self) -> list[str]:
        """The environment variables to set before this service may start outside development
        mode: secrets that are missing or are the public development ones."""
        if self.development:
            return []
        return [self.env_name(name) for name in self.secrets
                if getattr(self, name) in (None, "", development.SECRETS.get(name))]

    @classmethod
    def env_name(cls, field: str) -> str:
        """The environment variable a field is read from."""
        alias = cls.model_fields[field].validation_alias
        if isinstance(alias, AliasChoices):
            return str(alias.choices[0])
        return f"{cls.model_config.get('env_prefix', '')}{field}".upper()

    def base_url(self) -> str:
        """Where this service is reached from outside: `public_url`, or this process's address."""
        if self.public_url:
            return self.public_url.rstrip("/")
        host = "127.0.0.1" if self.http_host in ("0.0.0.0", "::") else self.http_host  # noqa: S104
        return f"http://{host}:{self.http_port}"
