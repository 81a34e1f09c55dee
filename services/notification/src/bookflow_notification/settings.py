"""Notification settings, from `BOOKFLOW_NOTIFICATION_*` variables. Per-tenant settings (providers,
quiet hours, prices) live in the service's database, not here."""
from typing import ClassVar

from pydantic import Field, model_validator
from pydantic_settings import SettingsConfigDict

from bookflow_runtime.settings import ServiceSettings


class NotificationSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="BOOKFLOW_NOTIFICATION_", extra="ignore")

    service_name: str = "notification"
    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:5432/bookflow_notification"
    http_port: int = 8102
    letters_dir: str = Field(".bookflow/letters", description="Letters of tenants without a letter folder go to <letters_dir>/<tenant>.")
    sandbox_enabled: bool | None = Field(
        None, description="Serve the sandbox channel, page and API, which show every message: development mode only "
        "(empty: on in development mode, off otherwise).",
    )
    secrets_key: str | None = Field(
        None, description="Fernet key(s), comma-separated, sealing tenants' provider secrets in the database; the first seals, all unseal.",
    )
    dispatch_batch_size: int = Field(200, ge=1, description="Messages claimed per dispatcher round.")
    dispatch_lanes: int = Field(3, ge=1, description="Dispatcher rounds under way at once in this process.")
    dispatch_poll_seconds: float = Field(1.0, gt=0, description="Longest sleep of the dispatcher when nothing wakes it.")
    provider_concurrency: int = Field(64, ge=1, description="Calls in flight at once to one provider address.")
    provider_timeout_seconds: float = Field(10.0, gt=0, description="How long one provider call may take.")
    attempts_per_provider: int = Field(3, ge=1, description="Calls to one provider before the next provider takes over.")
    retry_first_backoff_seconds: float = Field(2.0, gt=0, description="Wait before the first retry; doubles each time.")
    sending_lease_seconds: float = Field(
        120.0, gt=0, description="A message still `sending` this long after its claim was left by a stopped process."
    )

    secrets: ClassVar[tuple[str, ...]] = (*ServiceSettings.secrets, "secrets_key")

    @model_validator(mode="after")
    def _sandbox_only_in_development(self) -> "NotificationSettings":
        if self.sandbox_enabled is None:
            self.sandbox_enabled = self.development
        elif self.sandbox_enabled and not self.development:
            raise ValueError("the sandbox shows every customer's messages: it runs in development mode only (BOOKFLOW_DEVELOPMENT=1)")
        return self
