"""Notification settings, from `BOOKFLOW_NOTIFICATION_*` variables. Per-tenant settings (providers,
quiet hours, prices) live in the service's database, not here."""
from pydantic import Field
from pydantic_settings import SettingsConfigDict

from bookflow_notification import sealing
from bookflow_runtime.settings import ServiceSettings


class NotificationSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="BOOKFLOW_NOTIFICATION_", extra="ignore")

    service_name: str = "notification"
    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:5432/bookflow_notification"
    http_port: int = 8102
    public_base_url: str = Field(
        "http://127.0.0.1:8102", description="This service as providers reach it: delivery-report and inbound callbacks go here."
    )
    letters_dir: str = Field(".bookflow/letters", description="Letters of tenants without a letter folder go to <letters_dir>/<tenant>.")
    sandbox_enabled: bool = Field(True, description="Serve the sandbox page and API (local runs; switch off in production).")
    secrets_key: str = Field(
        sealing.DEVELOPMENT_KEY,
        description="Fernet key(s), comma-separated, sealing tenants' provider secrets in the database; the first seals, all unseal.",
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
