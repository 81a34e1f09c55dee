"""Withdrawals, deadlines and retries, tenants heard of, early delivery reports, Mailgun tokens.

- messages: what a message is about and its version (`regarding`, `regarding_version`), until when
  it serves its purpose (`valid_until`), until when it is retried (`retry_until`), failed calls to
  any provider (`failures`), and its request's instant, event id and cause (for a dead letter).
- tenants: `announced_at`, when `tenant.updated` first told of the tenant (tenants that have a
  zone had one; a tenant known only by its saved settings has not); letter folders that are not
  subfolders of the letters folder are dropped.
- withdrawals (remembered per tenant and `regarding`), early_reports (delivery reports that came
  before the send was recorded), webhook_tokens (Mailgun's one-time tokens), consumer_progress
  (how far each process's tenants consumer has read).

Revision ID: 0004
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_tz = sa.DateTime(timezone=True)
_NEW_MESSAGE_COLUMNS = [
    sa.Column("failures", sa.Integer, nullable=False, server_default="0"),
    sa.Column("regarding", sa.Text),
    sa.Column("regarding_version", sa.BigInteger),
    sa.Column("valid_until", _tz),
    sa.Column("retry_until", _tz),
    sa.Column("requested_at", _tz),
    sa.Column("request_event_id", pg.UUID(as_uuid=True)),
    sa.Column("causation_id", sa.Text),
]


def upgrade() -> None:
    for column in _NEW_MESSAGE_COLUMNS:
        op.add_column("messages", column)
    op.create_index("messages_regarding", "messages", ["tenant_id", "regarding"],
                    postgresql_where=sa.text("status IN ('queued', 'waiting') AND regarding IS NOT NULL"))
    op.create_index("messages_waiting", "messages", ["created_at"], postgresql_where=sa.text("status = 'waiting'"))
    op.add_column("tenants", sa.Column("announced_at", _tz))
    op.execute("UPDATE tenants SET announced_at = updated_at WHERE time_zone IS NOT NULL")
    # Letter folders are subfolders of the service's letters folder now: a full path or one
    # climbing out with `..` is dropped (those tenants' letters go to <letters_dir>/<tenant>).
    op.execute("UPDATE tenants SET settings = settings - 'letter_folder' "
               "WHERE settings->>'letter_folder' LIKE '/%' OR settings->>'letter_folder' LIKE '%..%' "
               "OR settings->>'letter_folder' LIKE '%\\%'")
    op.create_table(
        "withdrawals",
        sa.Column("tenant_id", sa.Text, primary_key=True),
        sa.Column("regarding", sa.Text, primary_key=True),
        sa.Column("before_version", sa.BigInteger),
        sa.Column("everything_before", _tz),
        sa.Column("last_at", _tz, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
    )
    op.create_table(
        "early_reports",
        sa.Column("provider", sa.Text, primary_key=True),
        sa.Column("provider_message_id", sa.Text, primary_key=True),
        sa.Column("status", sa.Text, primary_key=True),
        sa.Column("tenant_id", sa.Text, nullable=False),
        sa.Column("at", _tz, nullable=False),
        sa.Column("reason", sa.Text),
        sa.Column("received_at", _tz, nullable=False, server_default=sa.func.now()),
    )
    op.create_table(
        "webhook_tokens",
        sa.Column("provider", sa.Text, primary_key=True),
        sa.Column("token", sa.Text, primary_key=True),
        sa.Column("digest", sa.Text, nullable=False),
        sa.Column("seen_at", _tz, nullable=False, index=True),
    )
    op.create_table(
        "consumer_progress",
        sa.Column("process_id", sa.Text, primary_key=True),
        sa.Column("caught_up_at", _tz),
        sa.Column("seen_at", _tz, nullable=False),
    )


def downgrade() -> None:
    for table in ("consumer_progress", "webhook_tokens", "early_reports", "withdrawals"):
        op.drop_table(table)
    op.drop_column("tenants", "announced_at")
    op.drop_index("messages_waiting", "messages")
    op.drop_index("messages_regarding", "messages")
    for column in reversed(_NEW_MESSAGE_COLUMNS):
        op.drop_column("messages", column.name)
