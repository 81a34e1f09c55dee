"""Tenants, technicians and slots; bookings as work orders of flows A and B; their history,
freed slots and customers' replies.

Revision ID: 0002
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tenants",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("time_zone", sa.Text, nullable=False),
        sa.Column("language", sa.Text, nullable=False),
        sa.Column("flow", sa.Text, nullable=False),
        sa.Column("reminder_before", sa.Interval, nullable=False),
        sa.Column("release_after_reminder", sa.Interval, nullable=False),
        sa.Column("letter_response_time", sa.Interval, nullable=False),
        sa.Column("sms_response_time", sa.Interval, nullable=False),
        sa.Column("appointment_reminder_at", sa.Time, nullable=False),
        sa.Column("letter_folder", sa.Text),
        sa.Column("channels", pg.ARRAY(sa.Text), nullable=False),
        sa.Column("reply_number", sa.Text),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )
    op.create_table(
        "technicians",
        sa.Column("id", pg.UUID(as_uuid=True), primary_key=True),
        sa.Column("tenant_id", sa.Text, nullable=False, index=True),
        sa.Column("name", sa.Text, nullable=False),
    )
    op.create_table(
        "slots",
        sa.Column("id", pg.UUID(as_uuid=True), primary_key=True),
        sa.Column("tenant_id", sa.Text, nullable=False),
        sa.Column("technician_id", pg.UUID(as_uuid=True), sa.ForeignKey("technicians.id")),
        sa.Column("service", sa.Text, nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("booking_id", pg.UUID(as_uuid=True), unique=True),
        sa.CheckConstraint("ends_at > starts_at", name="slots_end_after_start"),
    )
    op.create_index("slots_free", "slots", ["tenant_id", "service", "starts_at"], postgresql_where=sa.text("booking_id IS NULL"))
    op.add_column("bookings", sa.Column("flow", sa.Text, nullable=False, server_default="none"))
    op.add_column("bookings", sa.Column("technician_id", pg.UUID(as_uuid=True), sa.ForeignKey("technicians.id")))
    op.add_column("bookings", sa.Column("sequence", sa.Integer))
    op.add_column("bookings", sa.Column("slot_id", pg.UUID(as_uuid=True), sa.ForeignKey("slots.id")))
    op.add_column("bookings", sa.Column("booking_code", sa.Text, unique=True))
    op.add_column("bookings", sa.Column("version", sa.Integer, nullable=False, server_default="0"))
    op.add_column("bookings", sa.Column("rebooked_from", pg.UUID(as_uuid=True), sa.ForeignKey("bookings.id")))
    op.add_column("bookings", sa.Column("rebooked_to", pg.UUID(as_uuid=True), sa.ForeignKey("bookings.id")))
    op.add_column("bookings", sa.Column("hold_until", sa.Date))
    op.add_column("bookings", sa.Column("state_reason", sa.Text))
    op.add_column("bookings", sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()))
    op.create_index("bookings_tenant_state", "bookings", ["tenant_id", "state", "starts_at"])
    op.create_index("bookings_technician_start", "bookings", ["technician_id", "starts_at"])
    op.create_table(
        "booking_history",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("booking_id", pg.UUID(as_uuid=True), sa.ForeignKey("bookings.id"), nullable=False, index=True),
        sa.Column("from_state", sa.Text, nullable=False),
        sa.Column("to_state", sa.Text, nullable=False),
        sa.Column("transition", sa.Text, nullable=False),
        sa.Column("actor", sa.Text, nullable=False),
        sa.Column("reason", sa.Text),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "freed_slots",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("tenant_id", sa.Text, nullable=False),
        sa.Column("slot_id", pg.UUID(as_uuid=True), sa.ForeignKey("slots.id"), nullable=False),
        sa.Column("booking_id", pg.UUID(as_uuid=True), sa.ForeignKey("bookings.id"), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("freed_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("freed_slots_tenant", "freed_slots", ["tenant_id", "freed_at"])
    op.create_table(
        "replies",
        sa.Column("reply_id", pg.UUID(as_uuid=True), primary_key=True),
        sa.Column("tenant_id", sa.Text, nullable=False),
        sa.Column("booking_id", pg.UUID(as_uuid=True), sa.ForeignKey("bookings.id")),
        sa.Column("sender", sa.Text, nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("code", sa.Text),
        sa.Column("outcome", sa.Text, nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("replies_tenant_unmatched", "replies", ["tenant_id", "received_at"], postgresql_where=sa.text("booking_id IS NULL"))


def downgrade() -> None:
    op.drop_table("replies")
    op.drop_table("freed_slots")
    op.drop_table("booking_history")
    op.drop_index("bookings_technician_start", "bookings")
    op.drop_index("bookings_tenant_state", "bookings")
    for column in ("updated_at", "state_reason", "hold_until", "rebooked_to", "rebooked_from", "version", "booking_code",
                   "slot_id", "sequence", "technician_id", "flow"):
        op.drop_column("bookings", column)
    op.drop_table("slots")
    op.drop_table("technicians")
    op.drop_table("tenants")
