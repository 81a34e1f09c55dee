"""Staff accounts (issue 13): accounts with roles per tenant, one-time links that set a password,
the sessions a login starts, and failed logins for the lockout.

Revision ID: 0005_staff_accounts
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

revision = "0006_staff_accounts"
down_revision = "0005_customers_catalog"
branch_labels = None
depends_on = None

UUID = pg.UUID(as_uuid=True)
Instant = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "staff_accounts",
        sa.Column("id", UUID, primary_key=True),
        sa.Column("tenant_id", sa.Text, nullable=False),
        sa.Column("email", sa.Text, nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("roles", pg.ARRAY(sa.Text), nullable=False),
        sa.Column("language", sa.Text),
        sa.Column("technician_id", UUID),
        sa.Column("password_hash", sa.Text),
        sa.Column("created_at", Instant, nullable=False),
        sa.Column("removed_at", Instant),
    )
    op.create_index("staff_accounts_email", "staff_accounts", ["tenant_id", "email"], unique=True,
                    postgresql_where=sa.text("removed_at IS NULL"))
    op.create_table(
        "staff_links",
        sa.Column("token_hash", sa.Text, primary_key=True),
        sa.Column("tenant_id", sa.Text, nullable=False),
        sa.Column("staff_id", UUID, nullable=False),
        sa.Column("purpose", sa.Text, nullable=False),
        sa.Column("created_at", Instant, nullable=False),
        sa.Column("expires_at", Instant, nullable=False),
        sa.Column("used_at", Instant),
    )
    op.create_table(
        "staff_sessions",
        sa.Column("secret_hash", sa.Text, primary_key=True),
        sa.Column("tenant_id", sa.Text, nullable=False),
        sa.Column("staff_id", UUID, nullable=False),
        sa.Column("started_at", Instant, nullable=False),
        sa.Column("expires_at", Instant, nullable=False),
        sa.Column("ended_at", Instant),
    )
    op.create_index("staff_sessions_staff", "staff_sessions", ["staff_id"])
    op.create_table(
        "staff_login_failures",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("account_key", sa.Text, nullable=False),
        sa.Column("address", sa.Text, nullable=False),
        sa.Column("at", Instant, nullable=False),
    )
    op.create_index("staff_login_failures_account", "staff_login_failures", ["account_key", "at"])
    op.create_index("staff_login_failures_address", "staff_login_failures", ["address", "at"])


def downgrade() -> None:
    op.drop_table("staff_login_failures")
    op.drop_table("staff_sessions")
    op.drop_table("staff_links")
    op.drop_index("staff_accounts_email", "staff_accounts")
    op.drop_table("staff_accounts")
