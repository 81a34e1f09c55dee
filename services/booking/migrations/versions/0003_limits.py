"""Reminders weeks late (lateness in 64 bits), idempotency keys of creating requests, failed My
pages links by client address, and replies by sender (for the limit on code guesses).

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


def downgrade() -> None:
    op.drop_index("replies_sender", "replies")
    op.drop_table("failed_links")
    op.drop_table("idempotency_keys")
    op.alter_column("reminders_received", "lateness_ms", type_=sa.Integer, existing_nullable=False)
