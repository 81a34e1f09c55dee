"""Console settings, from `BOOKFLOW_CONSOLE_*` variables: where each service is, where the console
is reached, and the public key that verifies staff tokens."""
from __future__ import annotations

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from bookflow_runtime import development


class ConsoleSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BOOKFLOW_CONSOLE_", extra="ignore")

    http_host: str = "127.0.0.1"
    http_port: int = Field(8100, ge=0, le=65535)
    public_url: str = Field("", description="Where staff reach the console (https://console.example.com); "
                                            "empty: http://HOST:PORT. Cookies are Secure when it is https.")
    booking_url: str = "http://127.0.0.1:8101"
    notification_url: str = "http://127.0.0.1:8102"
    scheduler_url: str = "http://127.0.0.1:8103"
    recall_url: str = "http://127.0.0.1:8104"
    checkin_url: str = "http://127.0.0.1:8105"
    request_timeout_seconds: float = Field(10.0, gt=0)
    log_level: str = Field("INFO", validation_alias=AliasChoices("BOOKFLOW_LOG_LEVEL"))
    development: bool = Field(False, validation_alias=AliasChoices(development.ENVIRONMENT_FLAG))
    staff_token_public_key: str | None = Field(
        None, validation_alias=AliasChoices("BOOKFLOW_STAFF_TOKEN_PUBLIC_KEY"),
        description="PEM public key (Ed25519) that verifies staff tokens, as every service has it.",
    )

    def model_post_init(self, _: object) -> None:
        if self.development and self.staff_token_public_key is None:
            self.staff_token_public_key = development.STAFF_TOKEN_PUBLIC_KEY

    def missing_secrets(self) -> list[str]:
        if self.development:
            return []
        key = self.staff_token_public_key
        return [] if key and key != development.STAFF_TOKEN_PUBLIC_KEY else ["BOOKFLOW_STAFF_TOKEN_PUBLIC_KEY"]

    def base_url(self) -> str:
        return (self.public_url or f"http://{self.http_host}:{self.http_port}").rstrip("/")

    @property
    def secure_cookies(self) -> bool:
        return self.base_url().startswith("https://")

    def url_of(self, service: str) -> str:
        return getattr(self, f"{service}_url").rstrip("/")
