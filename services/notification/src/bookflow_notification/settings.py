"""Notification settings, from `BOOKFLOW_NOTIFICATION_*` variables."""
from pydantic_settings import SettingsConfigDict

from bookflow_runtime.settings import ServiceSettings


class NotificationSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="BOOKFLOW_NOTIFICATION_", extra="ignore")

    service_name: str = "notification"
    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:5432/bookflow_notification"
    http_port: int = 8102
