"""Dispatching through providers: the request kept on the message, retries, provider ids, cost;
status history; tenants' settings and receiving numbers; templates; opt-outs, consent; replies.

Revision ID: 0002
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_NEW_MESSAGE_COLUMNS = [
    sa.Column("customer", pg.JSONB),
    sa.Column("channels", pg.JSONB),
    sa.Column("channel_index", sa.Integer, nullable=False, server_default="0"),
    sa.Column("data", pg.JSONB),
    sa.Column("purpose", sa.Text, nullable=False, server_default="service"),
    sa.Column("language", sa.Text),
    sa.Column("correlation_id", sa.Text),
    sa.Column("subject", sa.Text),
    sa.Column("sender", sa.Text),
    sa.Column("not_before", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("provider_index", sa.Integer, nullable=False, server_default="0"),
    sa.Column("provider", sa.Text),
    sa.Column("provider_message_id", sa.Text),
    sa.Column("lease_until", sa.DateTime(timezone=True)),
    sa.Column("segments", sa.Integer),
    sa.Column("encoding", sa.Text),
    sa.Column("price_per_segment", sa.Numeric(12, 4)),
    sa.Column("currency", sa.Text),
    sa.Column("payer", sa.Text),
    sa.Column("cost", sa.Numeric(12, 4)),
    sa.Column("billed_at", sa.DateTime(timezone=True)),
    sa.Column("failed_at", sa.DateTime(timezone=True)),
    sa.Column("letter_path", sa.Text),
]


def upgrade() -> None:
    for column in _NEW_MESSAGE_COLUMNS:
        op.add_column("messages", column)
    op.create_index("messages_due", "messages", ["not_before"], postgresql_where=sa.text("status = 'queued'"))
    op.create_index("messages_leased", "messages", ["lease_until"], postgresql_where=sa.text("status = 'sending'"))
    op.create_index("messages_provider_id", "messages", ["provider", "provider_message_id"], unique=True,
                    postgresql_where=sa.text("provider_message_id IS NOT NULL"))
    op.create_index("messages_billed", "messages", ["tenant_id", "billed_at"], postgresql_where=sa.text("billed_at IS NOT NULL"))
    op.create_table(
        "message_events",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("message_id", pg.UUID(as_uuid=True), sa.ForeignKey("messages.id"), nullable=False, index=True),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("detail", sa.Text),
    )
    op.create_table(
        "tenants",
        sa.Column("tenant_id", sa.Text, primary_key=True),
        sa.Column("name", sa.Text),
        sa.Column("time_zone", sa.Text),
        sa.Column("language", sa.Text),
        sa.Column("settings", pg.JSONB, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )
    op.create_table(
        "receiving_numbers",
        sa.Column("number", sa.Text, primary_key=True),
        sa.Column("tenant_id", sa.Text, nullable=False, index=True),
    )
    op.create_table(
        "templates",
        sa.Column("tenant_id", sa.Text, primary_key=True),
        sa.Column("template_key", sa.Text, primary_key=True),
        sa.Column("channel", sa.Text, primary_key=True),
        sa.Column("language", sa.Text, primary_key=True),
        sa.Column("subject", sa.Text, nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("updated_by", sa.Text),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )
    op.create_table(
        "opt_outs",
        sa.Column("tenant_id", sa.Text, primary_key=True),
        sa.Column("phone", sa.Text, primary_key=True),
        sa.Column("opted_out_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
    )
    op.create_table(
        "consents",
        sa.Column("tenant_id", sa.Text, primary_key=True),
        sa.Column("customer_id", pg.UUID(as_uuid=True), primary_key=True),
        sa.Column("marketing", sa.Boolean, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )
    op.create_table(
        "replies",
        sa.Column("id", pg.UUID(as_uuid=True), primary_key=True),
        sa.Column("tenant_id", sa.Text, nullable=False),
        sa.Column("provider", sa.Text, nullable=False),
        sa.Column("provider_message_id", sa.Text, nullable=False),
        sa.Column("sender", sa.Text, nullable=False),
        sa.Column("recipient", sa.Text, nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("answers_message_id", pg.UUID(as_uuid=True)),
        sa.UniqueConstraint("provider", "provider_message_id", name="replies_provider_message"),
    )
    op.create_index("replies_tenant", "replies", ["tenant_id", "received_at"])
    op.add_column("sandbox_messages", sa.Column("subject", sa.Text))


def downgrade() -> None:
    op.drop_column("sandbox_messages", "subject")
    for table in ("replies", "consents", "opt_outs", "templates", "receiving_numbers", "tenants", "message_events"):
        op.drop_table(table)
    for index in ("messages_billed", "messages_provider_id", "messages_leased", "messages_due"):
        op.drop_index(index, "messages")
    for column in reversed(_NEW_MESSAGE_COLUMNS):
        op.drop_column("messages", column.name)
