"""Customers' answers by e-mail as well as SMS: the channel of each reply.

Revision ID: 0003
"""
import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("replies", sa.Column("channel", sa.Text, nullable=False, server_default="sms"))


def downgrade() -> None:
    op.drop_column("replies", "channel")
