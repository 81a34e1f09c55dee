"""Booking settings, from `BOOKFLOW_BOOKING_*` variables."""
from pydantic import Field
from pydantic_settings import SettingsConfigDict

from bookflow_runtime.settings import ServiceSettings

DEV_ADMIN_TOKEN = "bookflow-development-admin-token"  # noqa: S105 (local runs; the service warns when it is used)


class BookingSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="BOOKFLOW_BOOKING_", extra="ignore")

    service_name: str = "booking"
    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:5432/bookflow_booking"
    http_port: int = 8101
    admin_token: str = Field(DEV_ADMIN_TOKEN, description="Bearer token of the tenant administration routes (PUT /tenants/{id}).")
    public_url: str = Field("", description="Where customers reach this service (My pages links); http://HOST:PORT when empty.")
    notification_url: str = Field("http://127.0.0.1:8102", description="The notification service, for bookings' communication logs.")
    my_pages_link_days: int = Field(180, ge=1, description="How long a My pages link stays valid.")

    def customer_url(self) -> str:
        return self.public_url or f"http://{self.http_host}:{self.http_port}"
