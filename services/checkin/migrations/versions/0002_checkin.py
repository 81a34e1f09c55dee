"""Online check-in (C1–C7): the projection of bookings grows into what the check-in page shows
(customer, work lines, subject, place, the booking's version) and what check-in did about it
(the link's timer, the link sent, the answer); tenants with their catalog; per-tenant settings;
contact changes; comments and their files; the receptionist's items.

Revision ID: 0002
Revises: 0001
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    add = op.add_column
    add("appointments", sa.Column("ends_at", sa.DateTime(timezone=True)))
    add("appointments", sa.Column("version", sa.Integer, nullable=False, server_default="0"))
    add("appointments", sa.Column("created_known", sa.Boolean, nullable=False, server_default=sa.true()))
    add("appointments", sa.Column("customer", pg.JSONB))
    add("appointments", sa.Column("customer_at", sa.DateTime(timezone=True)))
    add("appointments", sa.Column("place", pg.JSONB))
    add("appointments", sa.Column("work_lines", pg.JSONB, nullable=False, server_default=sa.text("'[]'::jsonb")))
    add("appointments", sa.Column("subject", pg.JSONB))
    add("appointments", sa.Column("extra_info", sa.Text))
    for name in ("link_timer_due", "link_sent_at", "link_sent_start", "answered_at"):
        add("appointments", sa.Column(name, sa.DateTime(timezone=True)))
    # Rows kept by the first version knew the customer's id and name only.
    op.execute("UPDATE appointments SET ends_at = starts_at, "
               "customer = jsonb_build_object('customer_id', customer_id, 'name', customer_name)")
    op.alter_column("appointments", "ends_at", nullable=False)
    for name in ("version", "created_known", "work_lines"):
        op.alter_column("appointments", name, server_default=None)
    op.drop_column("appointments", "customer_name")
    op.create_index("appointments_customer", "appointments", ["customer_id"])

    op.create_table(
        "tenants",
        sa.Column("tenant_id", sa.Text, primary_key=True),
        sa.Column("name", sa.Text),
        sa.Column("time_zone", sa.Text),
        sa.Column("language", sa.Text),
        sa.Column("contact_phone", sa.Text),
        sa.Column("contact_email", sa.Text),
        sa.Column("currency", sa.Text),
        sa.Column("tenant_at", sa.DateTime(timezone=True)),
        sa.Column("catalog", pg.JSONB, nullable=False, server_default=sa.text("'[]'::jsonb")),
        sa.Column("catalog_at", sa.DateTime(timezone=True)),
    )
    op.create_table(
        "checkin_settings",
        sa.Column("tenant_id", sa.Text, primary_key=True),
        sa.Column("enabled", sa.Boolean, nullable=False),
        sa.Column("link_before", sa.Interval, nullable=False),
        sa.Column("convert_to_intervention", pg.JSONB, nullable=False, server_default=sa.text("'[]'::jsonb")),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.Text, nullable=False),
    )
    op.create_table(
        "contact_changes",
        sa.Column("request_id", pg.UUID(as_uuid=True), primary_key=True),
        sa.Column("tenant_id", sa.Text, nullable=False),
        sa.Column("booking_id", pg.UUID(as_uuid=True), nullable=False),
        sa.Column("customer_id", pg.UUID(as_uuid=True), nullable=False),
        sa.Column("phone", sa.Text),
        sa.Column("email", sa.Text),
        sa.Column("preferred_channel", sa.Text),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("reason", sa.Text),
    )
    op.create_index("contact_changes_booking", "contact_changes", ["booking_id", "requested_at"])
    op.create_table(
        "comments",
        sa.Column("comment_id", pg.UUID(as_uuid=True), primary_key=True),
        sa.Column("tenant_id", sa.Text, nullable=False),
        sa.Column("booking_id", pg.UUID(as_uuid=True), nullable=False),
        sa.Column("subject", sa.Text, nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("shared", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("shared_at", sa.DateTime(timezone=True)),
        sa.Column("shared_by", sa.Text),
    )
    op.create_index("comments_booking", "comments", ["booking_id", "created_at"])
    op.create_table(
        "files",
        sa.Column("file_id", pg.UUID(as_uuid=True), primary_key=True),
        sa.Column("tenant_id", sa.Text, nullable=False),
        sa.Column("booking_id", pg.UUID(as_uuid=True), nullable=False),
        sa.Column("comment_id", pg.UUID(as_uuid=True), sa.ForeignKey("comments.comment_id"), nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("content_type", sa.Text, nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("storage_key", sa.Text, nullable=False, unique=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("files_comment", "files", ["comment_id"])
    op.create_table(
        "items",
        sa.Column("item_id", pg.UUID(as_uuid=True), primary_key=True),
        sa.Column("tenant_id", sa.Text, nullable=False),
        sa.Column("booking_id", pg.UUID(as_uuid=True), nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("service", sa.Text),
        sa.Column("comment_id", pg.UUID(as_uuid=True), sa.ForeignKey("comments.comment_id")),
        sa.Column("state", sa.Text, nullable=False),
        sa.Column("outcome", sa.Text),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("handled_at", sa.DateTime(timezone=True)),
        sa.Column("handled_by", sa.Text),
        sa.Column("work_line_id", pg.UUID(as_uuid=True), unique=True),
        sa.Column("work_line", pg.JSONB),
        sa.Column("work_line_status", sa.Text),
        sa.Column("work_line_reason", sa.Text),
        sa.CheckConstraint("kind IN ('accepted-service', 'contact-request', 'comment')", name="items_kind"),
        sa.CheckConstraint("state IN ('unhandled', 'handled', 'converted')", name="items_state"),
    )
    op.create_index("items_booking", "items", ["booking_id", "created_at"])
    op.create_index("items_service", "items", ["booking_id", "service"], unique=True, postgresql_where=sa.text("service IS NOT NULL"))
    op.create_index("items_unhandled", "items", ["tenant_id"], postgresql_where=sa.text("state = 'unhandled'"))


def downgrade() -> None:
    for table in ("items", "files", "comments", "contact_changes", "checkin_settings", "tenants"):
        op.drop_table(table)
    op.drop_index("appointments_customer", "appointments")
    op.add_column("appointments", sa.Column("customer_name", sa.Text))
    op.execute("UPDATE appointments SET customer_name = customer->>'name'")
    for name in ("ends_at", "version", "created_known", "customer", "customer_at", "place", "work_lines", "subject", "extra_info",
                 "link_timer_due", "link_sent_at", "link_sent_start", "answered_at"):
        op.drop_column("appointments", name)
