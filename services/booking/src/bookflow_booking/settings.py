"""Booking settings, from `BOOKFLOW_BOOKING_*` variables (and the shared `BOOKFLOW_*` ones)."""
from typing import ClassVar

from pydantic import AliasChoices, Field
from pydantic_settings import SettingsConfigDict

from bookflow_runtime.settings import ServiceSettings


class BookingSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="BOOKFLOW_BOOKING_", extra="ignore")

    service_name: str = "booking"
    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:5432/bookflow_booking"
    http_port: int = 8101
    operator_token: str | None = Field(
        None, validation_alias=AliasChoices("BOOKFLOW_OPERATOR_TOKEN", "BOOKFLOW_BOOKING_ADMIN_TOKEN"),
        description="Bearer token of operators' routes, such as creating a tenant (PUT /tenants/{id}).",
    )
    staff_token_private_key: str | None = Field(
        None, description="PEM private key (Ed25519) that signs staff tokens; only this service holds it.",
    )
    checkin_public_url: str = Field("http://127.0.0.1:8105", description="The check-in service's public address: the technician's "
                                    "work list links shared files to `<it>/tenants/{tenant}/files/{file_id}`.")
    online_booking_link_days: int = Field(90, ge=1, le=3650, description="How long a link to online booking (from a book-again "
                                          "reminder) stays valid.")
    my_pages_link_days: int = Field(180, ge=1, le=3650, description="How long a My pages link stays valid.")

    secrets: ClassVar[tuple[str, ...]] = (*ServiceSettings.secrets, "staff_token_private_key")
