"""Timers remember the conversation that set them, so `reminder.due` continues it.

Revision ID: 0002
Revises: 0001
"""
import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("timers", sa.Column("correlation_id", sa.Text))
    op.add_column("timers", sa.Column("set_by_event_id", sa.Text))


def downgrade() -> None:
    op.drop_column("timers", "set_by_event_id")
    op.drop_column("timers", "correlation_id")
