"""Customers as records of their own (customer number, postal address, preferred channel,
marketing consent with when and how); bookings with work lines, a subject, extra information and
their source; the service catalog; the communication log as a projection of `notification.status`
and of other services' events; comments shared with mechanics; commands applied by request id.

Revision ID: 0005_customers_catalog
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

revision = "0005_customers_catalog"
down_revision = "0004_tenant_contact"
branch_labels = None
depends_on = None

UUID = pg.UUID(as_uuid=True)
Instant = sa.DateTime(timezone=True)


def upgrade() -> None:
    for column in (
        sa.Column("customer_number", sa.Text), sa.Column("street", sa.Text), sa.Column("postcode", sa.Text),
        sa.Column("city", sa.Text), sa.Column("preferred_channel", sa.Text), sa.Column("marketing_consent", sa.Boolean),
        sa.Column("consent_changed_at", Instant), sa.Column("consent_source", sa.Text),
        sa.Column("updated_at", Instant, nullable=False, server_default=sa.func.now()),
    ):
        op.add_column("customers", column)
    op.create_unique_constraint("customers_tenant_number", "customers", ["tenant_id", "customer_number"])
    op.create_index("customers_tenant_phone", "customers", ["tenant_id", "phone"])
    op.create_index("customers_tenant_email", "customers", ["tenant_id", "email"])

    op.add_column("bookings", sa.Column("work_lines", pg.JSONB, nullable=False, server_default=sa.text("'[]'::jsonb")))
    op.add_column("bookings", sa.Column("subject", pg.JSONB))
    op.add_column("bookings", sa.Column("extra_info", sa.Text))
    op.add_column("bookings", sa.Column("source", sa.Text, nullable=False, server_default="staff"))
    op.add_column("bookings", sa.Column("source_ref", sa.Text))
    op.create_index("bookings_customer", "bookings", ["customer_id", "starts_at"])
    op.create_index("bookings_source", "bookings", ["tenant_id", "source_ref"])

    op.create_table(
        "catalog_services",
        sa.Column("tenant_id", sa.Text, primary_key=True),
        sa.Column("service", sa.Text, primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("duration_minutes", sa.Integer, nullable=False),
        sa.Column("price_incl_vat", sa.Numeric(12, 2)),
        sa.Column("vat_rate", sa.Numeric(5, 4)),
        sa.Column("article_numbers", pg.ARRAY(sa.Text), nullable=False),
        sa.Column("description", sa.Text),
        sa.Column("link", sa.Text),
        sa.Column("offered_at_checkin", sa.Boolean, nullable=False),
        sa.Column("bookable_online", sa.Boolean, nullable=False),
        sa.Column("updated_at", Instant, nullable=False, server_default=sa.func.now()),
    )
    op.create_table(
        "messages",
        sa.Column("message_id", UUID, primary_key=True),
        sa.Column("tenant_id", sa.Text, nullable=False),
        sa.Column("booking_id", UUID),
        sa.Column("customer_id", UUID, nullable=False),
        sa.Column("channel", sa.Text, nullable=False),
        sa.Column("template_key", sa.Text),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("status_at", Instant, nullable=False),
        sa.Column("reason", sa.Text),
        sa.Column("provider", sa.Text),
        sa.Column("segments", sa.Integer),
        sa.Column("cost", sa.Numeric(12, 4)),
        sa.Column("currency", sa.Text),
        sa.Column("created_at", Instant, nullable=False),
        sa.Column("sent_at", Instant),
        sa.Column("delivered_at", Instant),
        sa.Column("failed_at", Instant),
        sa.Column("withdrawn_at", Instant),
        sa.Column("history", pg.JSONB, nullable=False, server_default=sa.text("'[]'::jsonb")),
    )
    op.create_index("messages_booking", "messages", ["booking_id", "created_at"])
    op.create_index("messages_customer", "messages", ["tenant_id", "customer_id", "created_at"])
    op.create_table(
        "log_entries",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("tenant_id", sa.Text, nullable=False),
        sa.Column("customer_id", UUID),
        sa.Column("booking_id", UUID),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("at", Instant, nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("details", pg.JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
        sa.Column("dedupe_key", sa.Text, unique=True),
    )
    op.create_index("log_entries_customer", "log_entries", ["tenant_id", "customer_id", "at"])
    op.create_index("log_entries_booking", "log_entries", ["booking_id", "at"])
    op.create_table(
        "shared_comments",
        sa.Column("comment_id", UUID, primary_key=True),
        sa.Column("tenant_id", sa.Text, nullable=False),
        sa.Column("booking_id", UUID, nullable=False, index=True),
        sa.Column("visible", sa.Boolean, nullable=False),
        sa.Column("subject", sa.Text, nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("files", pg.JSONB, nullable=False, server_default=sa.text("'[]'::jsonb")),
        sa.Column("updated_at", Instant, nullable=False, server_default=sa.func.now()),
    )
    op.create_table(
        "applied_requests",
        sa.Column("tenant_id", sa.Text, primary_key=True),
        sa.Column("request_id", UUID, primary_key=True),
        sa.Column("command", sa.Text, nullable=False),
        sa.Column("result", pg.JSONB, nullable=False),
        sa.Column("at", Instant, nullable=False, server_default=sa.func.now()),
    )


def downgrade() -> None:
    for table in ("applied_requests", "shared_comments", "log_entries", "messages", "catalog_services"):
        op.drop_table(table)
    op.drop_index("bookings_source", "bookings")
    op.drop_index("bookings_customer", "bookings")
    for column in ("source_ref", "source", "extra_info", "subject", "work_lines"):
        op.drop_column("bookings", column)
    op.drop_index("customers_tenant_email", "customers")
    op.drop_index("customers_tenant_phone", "customers")
    op.drop_constraint("customers_tenant_number", "customers")
    for column in ("updated_at", "consent_source", "consent_changed_at", "marketing_consent", "preferred_channel", "city",
                   "postcode", "street", "customer_number"):
        op.drop_column("customers", column)
