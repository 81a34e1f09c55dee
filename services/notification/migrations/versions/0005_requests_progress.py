"""How far each process's requests consumer has read (`consumer_progress.requests_caught_up_at`):
the dispatcher sends nothing a withdrawal could stop while any live process's requests consumer
is behind, since the withdrawal may be queued behind the requests it has read.

Revision ID: 0005
"""
import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("consumer_progress", sa.Column("requests_caught_up_at", sa.DateTime(timezone=True)))


def downgrade() -> None:
    op.drop_column("consumer_progress", "requests_caught_up_at")
