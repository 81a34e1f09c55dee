"""Timers, outbox and inbox.

Revision ID: 0001
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

from bookflow_runtime.migrations import create_messaging_tables, drop_messaging_tables

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_messaging_tables(op)
    op.create_table(
        "timers",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("tenant_id", sa.Text, nullable=False),
        sa.Column("timer_key", sa.Text, nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("payload", pg.JSONB, nullable=False),
        sa.Column("state", sa.Text, nullable=False),
        sa.Column("generation", sa.Integer, nullable=False, server_default="1"),
        sa.Column("fired_at", sa.DateTime(timezone=True)),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.UniqueConstraint("tenant_id", "timer_key", name="timers_tenant_key"),
        sa.CheckConstraint("state IN ('pending', 'fired', 'cancelled')", name="timers_state"),
    )
    op.create_index("timers_pending_due", "timers", ["due_at"], postgresql_where=sa.text("state = 'pending'"))
    op.create_index("timers_key_prefix", "timers", ["tenant_id", sa.text("timer_key text_pattern_ops")])


def downgrade() -> None:
    op.drop_table("timers")
    drop_messaging_tables(op)
