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
    letters_dir: str = Field(
        ".bookflow/letters", description="The one folder every letter is written under: <letters_dir>/<tenant's letter_folder>, "
        "or <letters_dir>/<tenant id> for a tenant without one. Tenants name subfolders only.",
    )
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
    retry_max_backoff_seconds: float = Field(600.0, gt=0, description="The longest wait between two retries.")
    retry_window_seconds: float | None = Field(
        None, gt=0, description="How long after its first failure a message is retried while its providers fail (never past its "
        "`valid_until`). Empty: until its `valid_until`, or 24 hours for a message without one.",
    )
    sms_max_segments: int = Field(10, ge=1, le=50, description="An SMS whose text takes more segments fails with that reason.")
    sms_test_addresses: str = Field(
        "", description="Comma-separated addresses (http://127.0.0.1, http://fake-sms:8080) a tenant's SMS provider account "
        "may name besides the provider's own public API: for test providers. Empty in production.",
    )
    unknown_tenant_slack_seconds: float = Field(
        5.0, ge=0, description="A request for a tenant this service has never heard of waits for `tenant.updated`; once the "
        "tenants consumer has read everything published this long after the request, the tenant does not exist.",
    )
    withdrawals_behind_seconds: float = Field(
        2.0, gt=0, description="The withdrawals consumer counts as behind when it last had read everything longer ago than this "
        "(an idle consumer notes it about every half second); while it is behind, nothing a withdrawal could stop is sent, "
        "since its withdrawal may be on the topic, not yet read.",
    )
    sending_lease_seconds: float = Field(
        120.0, gt=0, description="A message still `sending` this long after its claim was left by a stopped process."
    )

    @property
    def test_addresses(self) -> tuple[str, ...]:
        return tuple(a.strip() for a in self.sms_test_addresses.split(",") if a.strip())

    secrets: ClassVar[tuple[str, ...]] = (*ServiceSettings.secrets, "secrets_key")

    @model_validator(mode="after")
    def _sandbox_only_in_development(self) -> "NotificationSettings":
        if self.sandbox_enabled is None:
            self.sandbox_enabled = self.development
        elif self.sandbox_enabled and not self.development:
            raise ValueError("the sandbox shows every customer's messages: it runs in development mode only (BOOKFLOW_DEVELOPMENT=1)")
        return self
