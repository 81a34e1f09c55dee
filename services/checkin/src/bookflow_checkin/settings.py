"""Check-in settings, from `BOOKFLOW_CHECKIN_*` variables."""
from pydantic_settings import SettingsConfigDict

from bookflow_runtime.settings import ServiceSettings


class CheckinSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="BOOKFLOW_CHECKIN_", extra="ignore")

    service_name: str = "checkin"
    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:5432/bookflow_checkin"
    http_port: int = 8105
