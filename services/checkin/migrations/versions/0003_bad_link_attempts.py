"""Bad check-in links are counted in the database, so that the limit holds across replicas and
restarts: one row per refused link, per client, kept for the window.

Revision ID: 0003
Revises: 0002
"""
import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "bad_link_attempts",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("client", sa.Text, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("bad_link_attempts_client", "bad_link_attempts", ["client", "at"])
    op.create_index("bad_link_attempts_at", "bad_link_attempts", ["at"])


def downgrade() -> None:
    op.drop_table("bad_link_attempts")
