"""Withdrawals have a consumer of their own (it passes requests over unread, so it keeps up
while a burst of requests is stored): the dispatcher's gate follows how far it has read, so
`consumer_progress.requests_caught_up_at` becomes `withdrawals_caught_up_at`.

Revision ID: 0006
"""
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.alter_column("consumer_progress", "requests_caught_up_at", new_column_name="withdrawals_caught_up_at")


def downgrade() -> None:
    op.alter_column("consumer_progress", "withdrawals_caught_up_at", new_column_name="requests_caught_up_at")
