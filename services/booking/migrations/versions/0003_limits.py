"""Reminders weeks late (lateness in 64 bits), idempotency keys of creating requests, failed My
pages links by client address, and replies by sender (for the limit on code guesses). Tenant
settings stored before input was bounded are brought within the bounds the API now shows them
in: a letter folder becomes a folder name under the letters root (its last part), a reply number
loses its blanks, timings are at most a year.

Revision ID: 0003_limits
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

revision = "0003_limits"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.alter_column("reminders_received", "lateness_ms", type_=sa.BigInteger, existing_nullable=False)
    op.create_table(
        "idempotency_keys",
        sa.Column("tenant_id", sa.Text, primary_key=True),
        sa.Column("key", sa.Text, primary_key=True),
        sa.Column("fingerprint", sa.Text, nullable=False),
        sa.Column("resource_id", pg.UUID(as_uuid=True)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("idempotency_keys_age", "idempotency_keys", ["created_at"])
    op.create_table(
        "failed_links",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("address", sa.Text, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("failed_links_address", "failed_links", ["address", "at"])
    op.create_index("replies_sender", "replies", ["tenant_id", "sender", "received_at"])
    _bound_tenant_settings()


_FOLDER = r"^[A-Za-z0-9_-][A-Za-z0-9._-]*(/[A-Za-z0-9_-][A-Za-z0-9._-]*)*$"
_NUMBER = r"^\+?[0-9]{3,15}$"


def _bound_tenant_settings() -> None:
    op.execute(sa.text(
        "UPDATE tenants SET letter_folder = NULLIF(regexp_replace(rtrim(letter_folder, '/'), '^.*/', ''), '') "
        "WHERE letter_folder !~ :folder").bindparams(folder=_FOLDER))
    op.execute(sa.text("UPDATE tenants SET letter_folder = NULL WHERE letter_folder !~ :folder").bindparams(folder=_FOLDER))
    op.execute(sa.text(
        "UPDATE tenants SET reply_number = NULLIF(regexp_replace(reply_number, '[^0-9+]', '', 'g'), '') "
        "WHERE reply_number !~ :number").bindparams(number=_NUMBER))
    op.execute(sa.text("UPDATE tenants SET reply_number = NULL WHERE reply_number !~ :number").bindparams(number=_NUMBER))
    for timing in ("reminder_before", "release_after_reminder", "letter_response_time", "sms_response_time"):
        op.execute(f"UPDATE tenants SET {timing} = interval '365 days' WHERE {timing} > interval '365 days'")


def downgrade() -> None:
    op.drop_index("replies_sender", "replies")
    op.drop_table("failed_links")
    op.drop_table("idempotency_keys")
    op.alter_column("reminders_received", "lateness_ms", type_=sa.Integer, existing_nullable=False)
