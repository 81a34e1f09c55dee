"""Recall settings, from `BOOKFLOW_RECALL_*` variables."""
from pydantic_settings import SettingsConfigDict

from bookflow_runtime.settings import ServiceSettings


class RecallSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="BOOKFLOW_RECALL_", extra="ignore")

    service_name: str = "recall"
    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:5432/bookflow_recall"
    http_port: int = 8104
