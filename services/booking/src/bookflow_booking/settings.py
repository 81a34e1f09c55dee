"""Booking settings, from `BOOKFLOW_BOOKING_*` variables."""
from pydantic_settings import SettingsConfigDict

from bookflow_runtime.settings import ServiceSettings


class BookingSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="BOOKFLOW_BOOKING_", extra="ignore")

    service_name: str = "booking"
    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:5432/bookflow_booking"
    http_port: int = 8101
