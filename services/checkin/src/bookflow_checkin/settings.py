"""Check-in settings, from `BOOKFLOW_CHECKIN_*` variables."""
from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from bookflow_runtime.settings import ServiceSettings

ACCEPTED_TYPES = (
    "image/jpeg", "image/png", "image/heic", "image/webp", "image/gif",
    "video/mp4", "video/quicktime", "video/webm", "video/x-matroska", "video/3gpp",
)
"""What a customer's photo or video may be, told by its bytes (phones take JPEG or HEIC
pictures and MP4, QuickTime or WebM videos)."""


class CheckinSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="BOOKFLOW_CHECKIN_", extra="ignore")

    service_name: str = "checkin"
    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:5432/bookflow_checkin"
    http_port: int = 8105

    link_max_age: timedelta = Field(
        timedelta(days=30), description="How long a check-in link opens the page after it was sent (ISO 8601, P30D); "
        "the page also closes when the appointment starts or ends.")
    bad_link_attempts: int = Field(20, ge=1, description="Invalid check-in links one client may try in `bad_link_window` before 429.")
    bad_link_window: timedelta = Field(timedelta(minutes=10), description="The window of `bad_link_attempts` (ISO 8601).")

    attachment_store: Literal["local", "s3"] = Field("local", description="Where customers' files go: a local folder or S3-compatible storage.")
    attachment_folder: Path = Field(Path(".bookflow/checkin-attachments"), description="The local folder (store `local`).")
    s3_bucket: str = Field("", description="Bucket (store `s3`); it must exist.")
    s3_prefix: str = Field("checkin/", max_length=200, description="Key prefix inside the bucket.")
    s3_endpoint_url: str | None = Field(None, description="Endpoint of an S3-compatible store (MinIO, Ceph…); empty: AWS.")
    s3_region: str = Field("us-east-1", description="Region of the bucket.")
    s3_access_key_id: str | None = Field(None, description="Access key; empty: the usual AWS credential chain.")
    s3_secret_access_key: str | None = Field(None, description="Secret key; empty: the usual AWS credential chain.")

    max_file_bytes: int = Field(100 * 1024 * 1024, ge=1024, description="Largest photo or video a customer may upload.")
    max_files_per_comment: int = Field(5, ge=1, le=20, description="Files one comment may carry.")
    accepted_types: tuple[str, ...] = Field(ACCEPTED_TYPES, description="MIME types accepted, as told by the file's bytes.")
    orphan_sweep: timedelta = Field(timedelta(hours=1), description="How often stored objects no comment refers to are removed "
                                    "(left by a crash between storing a file and committing its comment), and how old they must be.")
    unknown_tenant_wait_seconds: float = Field(
        20.0, gt=0, le=600,
        description="A message for a tenant check-in has not heard of waits at most this long for the tenants consumer to "
        "read past it; then (or as soon as it has, and the tenant is still unknown) it is dead-lettered as `unknown-tenant`.")
