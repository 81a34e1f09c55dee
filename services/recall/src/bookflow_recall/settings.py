"""Recall settings, from `BOOKFLOW_RECALL_*` variables."""
from pydantic import Field
from pydantic_settings import SettingsConfigDict

from bookflow_runtime.settings import ServiceSettings


class RecallSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="BOOKFLOW_RECALL_", extra="ignore")

    service_name: str = "recall"
    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:5432/bookflow_recall"
    http_port: int = 8104
    booking_public_url: str = Field(
        "http://127.0.0.1:8101",
        description="Where customers reach the booking service: book-again and recall links lead to `<this>/book/<token>`, "
        "its online booking page.")
    book_again_settle_seconds: float = Field(
        2.0, ge=0, le=300,
        description="D4: a due book-again reminder is sent only once every `booking.created` published up to this long "
        "after its instant has been handled (covers the booking service's outbox relay).")
    book_again_poll_seconds: float = Field(
        0.5, gt=0, le=60, description="How often due reminders marked by another replica are looked for.")
    evaluation_batch_size: int = Field(2000, ge=1, le=50_000, description="Recall steps claimed and decided per transaction.")
    evaluation_workers: int = Field(2, ge=1, le=16, description="Transactions of the recall evaluation running at once in this process.")
    evaluation_rest_seconds: float = Field(
        300.0, gt=0,
        description="Longest rest of the recall evaluation loop; it also wakes at each tenant's next day and when staff "
        "change a recall in this process. Steps run once per recall date however often it looks.")
    evaluate_in_background: bool = Field(
        True, description="Run the daily recall evaluation in this process (tests that drive it by hand turn it off).")
    progress_stale_seconds: float = Field(
        30.0, gt=0, description="A replica's report of how far it has read counts this long after it was written.")
    unknown_tenant_wait_seconds: float = Field(
        20.0, gt=0, le=600,
        description="A message for a tenant recall has not heard of waits at most this long for the tenants consumer to "
        "read past it; then (or as soon as it has, and the tenant is still unknown) it is dead-lettered as `unknown-tenant`.")
