"""Scheduler settings, from `BOOKFLOW_SCHEDULER_*` variables."""
from pydantic import Field
from pydantic_settings import SettingsConfigDict

from bookflow_runtime.settings import ServiceSettings


class SchedulerSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="BOOKFLOW_SCHEDULER_", extra="ignore")

    service_name: str = "scheduler"
    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:5432/bookflow_scheduler"
    http_port: int = 8103
    fire_batch_size: int = Field(1000, ge=1, description="Timers claimed and fired per transaction.")
    poll_seconds: float = Field(1.0, gt=0, description="Longest sleep between looks at the timers table.")
