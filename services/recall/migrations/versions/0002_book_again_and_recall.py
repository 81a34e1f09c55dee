"""Book-again reminders and recall: the projection grows (tenants, customers, booking versions
and sources, consumer progress), reminders and their history, recall settings, templates,
customers' recalls, step runs, actions, markers and till sales.

Revision ID: 0002
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

UUID = pg.UUID(as_uuid=True)
Instant = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "tenants",
        sa.Column("tenant_id", sa.Text, primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("time_zone", sa.Text, nullable=False),
        sa.Column("language", sa.Text, nullable=False),
        sa.Column("updated_at", Instant, nullable=False),
    )
    op.create_table(
        "customers",
        sa.Column("tenant_id", sa.Text, primary_key=True),
        sa.Column("customer_id", UUID, primary_key=True),
        sa.Column("name", sa.Text),
        sa.Column("phone", sa.Text),
        sa.Column("email", sa.Text),
        sa.Column("language", sa.Text),
        sa.Column("preferred_channel", sa.Text),
        sa.Column("address", pg.JSONB),
        sa.Column("customer_number", sa.Text),
        sa.Column("contact_at", Instant, nullable=False, comment="when the kept contact details were current"),
        sa.Column("contact_changed_at", Instant, comment="when name, e-mail or phone last changed"),
        sa.Column("marketing_consent", sa.Boolean),
        sa.Column("consent_at", Instant, comment="when the kept consent was current"),
        sa.Column("consent_changed_at", Instant),
    )
    op.create_index("customers_number", "customers", ["tenant_id", "customer_number"])
    op.drop_index("booking_history_customer", table_name="booking_history")
    op.create_index("booking_history_customer", "booking_history", ["tenant_id", "customer_id", "service"],
                    postgresql_include=["starts_at", "state"])
    op.add_column("booking_history", sa.Column("ends_at", Instant))
    op.add_column("booking_history", sa.Column("version", sa.Integer, nullable=False, server_default="0"))
    op.add_column("booking_history", sa.Column("source", sa.Text, nullable=False, server_default="staff"))
    op.add_column("booking_history", sa.Column("source_ref", sa.Text))
    op.add_column("booking_history", sa.Column(
        "booked_at", Instant, comment="when it was made (booking.created); empty until that event is here"))
    op.create_table(
        "consumer_progress",
        sa.Column("replica", sa.Text, primary_key=True),
        sa.Column("consumer", sa.Text, primary_key=True),
        sa.Column("caught_up_at", Instant),
        sa.Column("partitions", pg.ARRAY(sa.Integer), nullable=False),
        sa.Column("topic_partitions", pg.ARRAY(sa.Integer), nullable=False),
        sa.Column("seen_at", Instant, nullable=False),
    )

    op.create_table(
        "book_again_reminders",
        sa.Column("id", UUID, primary_key=True),
        sa.Column("tenant_id", sa.Text, nullable=False),
        sa.Column("customer_id", UUID, nullable=False),
        sa.Column("booking_id", UUID, nullable=False),
        sa.Column("service", sa.Text, nullable=False),
        sa.Column("after", sa.Integer, nullable=False),
        sa.Column("unit", sa.Text, nullable=False),
        sa.Column("set_at", Instant, nullable=False),
        sa.Column("set_by", sa.Text, nullable=False),
        sa.Column("due_at", Instant, nullable=False),
        sa.Column("state", sa.Text, nullable=False),
        sa.Column("cancel_reason", sa.Text),
        sa.Column("cancelled_at", Instant),
        sa.Column("sent_at", Instant),
        sa.Column("delivery_status", sa.Text),
        sa.Column("delivery_at", Instant),
        sa.Column("delivery_reason", sa.Text),
        sa.Column("cost", sa.Numeric(12, 4)),
        sa.Column("currency", sa.Text),
        sa.Column("payer", sa.Text),
        sa.Column("segments", sa.Integer),
        sa.Column("updated_at", Instant, nullable=False),
    )
    op.create_index("book_again_one_active", "book_again_reminders", ["tenant_id", "customer_id"], unique=True,
                    postgresql_where=sa.text("state IN ('scheduled', 'due')"))
    op.create_index("book_again_due", "book_again_reminders", ["due_at"], postgresql_where=sa.text("state = 'due'"))
    op.create_index("book_again_customer", "book_again_reminders", ["tenant_id", "customer_id", "set_at"])
    op.create_table(
        "book_again_events",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("reminder_id", UUID, sa.ForeignKey("book_again_reminders.id"), nullable=False),
        sa.Column("at", Instant, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("detail", sa.Text),
        sa.Column("booking_id", UUID),
    )
    op.create_index("book_again_events_reminder", "book_again_events", ["reminder_id", "at"])

    op.create_table(
        "recall_settings",
        sa.Column("tenant_id", sa.Text, primary_key=True),
        sa.Column("enabled", sa.Boolean, nullable=False),
        sa.Column("flag_missing", sa.Boolean, nullable=False),
        sa.Column("run_offset_days", sa.Integer, nullable=False),
        sa.Column("day_length", sa.Interval, nullable=False),
        sa.Column("day_origin", Instant),
        sa.Column("updated_at", Instant, nullable=False),
    )
    op.create_table(
        "recall_templates",
        sa.Column("id", UUID, primary_key=True),
        sa.Column("tenant_id", sa.Text, nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("service", sa.Text, nullable=False),
        sa.Column("tolerance_days", sa.Integer, nullable=False),
        sa.Column("frequency", sa.Integer, nullable=False),
        sa.Column("frequency_unit", sa.Text, nullable=False),
        sa.Column("times", sa.Integer, comment="how many courses; empty: unlimited"),
        sa.Column("article_numbers", pg.ARRAY(sa.Text), nullable=False),
        sa.Column("steps", pg.JSONB, nullable=False),
        sa.Column("created_at", Instant, nullable=False),
        sa.Column("updated_at", Instant, nullable=False),
        sa.Column("deleted_at", Instant),
    )
    op.create_index("recall_templates_tenant", "recall_templates", ["tenant_id"])
    op.create_table(
        "customer_recalls",
        sa.Column("id", UUID, primary_key=True),
        sa.Column("tenant_id", sa.Text, nullable=False),
        sa.Column("customer_id", UUID, nullable=False),
        sa.Column("template_id", UUID, sa.ForeignKey("recall_templates.id"), nullable=False),
        sa.Column("recall_date", sa.Date, nullable=False),
        sa.Column("course", sa.Integer, nullable=False),
        sa.Column("courses_done", sa.Integer, nullable=False),
        sa.Column("last_step_days", sa.Integer),
        sa.Column("next_step_day", sa.Date),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("ended_reason", sa.Text),
        sa.Column("date_set_at", Instant, nullable=False, comment="when the recall date was last set (staff, a course, a sale)"),
        sa.Column("created_at", Instant, nullable=False),
        sa.Column("created_by", sa.Text, nullable=False),
        sa.Column("updated_at", Instant, nullable=False),
    )
    op.create_index("customer_recalls_one_active", "customer_recalls", ["tenant_id", "customer_id", "template_id"], unique=True,
                    postgresql_where=sa.text("status = 'active'"))
    op.create_index("customer_recalls_due", "customer_recalls", ["tenant_id", "next_step_day"],
                    postgresql_where=sa.text("status = 'active'"))
    op.create_index("customer_recalls_customer", "customer_recalls", ["tenant_id", "customer_id"])
    op.create_table(
        "recall_step_runs",
        sa.Column("recall_id", UUID, sa.ForeignKey("customer_recalls.id"), primary_key=True),
        sa.Column("course", sa.Integer, primary_key=True),
        sa.Column("after_days", sa.Integer, primary_key=True),
        sa.Column("tenant_id", sa.Text, nullable=False),
        sa.Column("recall_date", sa.Date, nullable=False),
        sa.Column("ran_at", Instant, nullable=False),
        sa.Column("outcome", sa.Text, nullable=False),
        sa.Column("criterion", sa.Text),
    )
    op.create_table(
        "recall_actions",
        sa.Column("id", UUID, primary_key=True),
        sa.Column("tenant_id", sa.Text, nullable=False),
        sa.Column("recall_id", UUID, sa.ForeignKey("customer_recalls.id"), nullable=False),
        sa.Column("customer_id", UUID, nullable=False),
        sa.Column("course", sa.Integer, nullable=False),
        sa.Column("after_days", sa.Integer, nullable=False),
        sa.Column("recall_date", sa.Date, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("channel", sa.Text),
        sa.Column("template_key", sa.Text),
        sa.Column("approval", sa.Text, nullable=False),
        sa.Column("fallback", sa.Text),
        sa.Column("marker", sa.Text),
        sa.Column("state", sa.Text, nullable=False),
        sa.Column("reason", sa.Text),
        sa.Column("fallback_of", UUID),
        sa.Column("booking_id", UUID),
        sa.Column("booked_start", Instant),
        sa.Column("delivery_status", sa.Text),
        sa.Column("delivery_at", Instant),
        sa.Column("created_at", Instant, nullable=False),
        sa.Column("updated_at", Instant, nullable=False),
        sa.Column("handled_by", sa.Text),
    )
    op.create_index("recall_actions_recall", "recall_actions", ["recall_id"])
    op.create_index("recall_actions_list", "recall_actions", ["tenant_id", "created_at"],
                    postgresql_where=sa.text("state IN ('listed', 'awaiting-approval')"))
    op.create_table(
        "customer_markers",
        sa.Column("tenant_id", sa.Text, primary_key=True),
        sa.Column("customer_id", UUID, primary_key=True),
        sa.Column("marker", sa.Text, nullable=False),
        sa.Column("set_at", Instant, nullable=False),
        sa.Column("set_by", sa.Text, nullable=False),
    )
    op.create_table(
        "till_sales",
        sa.Column("tenant_id", sa.Text, primary_key=True),
        sa.Column("sale_id", sa.Text, primary_key=True),
        sa.Column("customer_id", UUID),
        sa.Column("customer_number", sa.Text),
        sa.Column("article_numbers", pg.ARRAY(sa.Text), nullable=False),
        sa.Column("sold_at", Instant, nullable=False),
        sa.Column("received_at", Instant, nullable=False),
        sa.Column("applied_at", Instant, comment="empty while the customer number is not known yet"),
        sa.Column("recalls_moved", sa.Integer, nullable=False, server_default="0"),
    )
    op.create_index("till_sales_unresolved", "till_sales", ["tenant_id", "customer_number"],
                    postgresql_where=sa.text("customer_id IS NULL"))


def downgrade() -> None:
    for table in ("till_sales", "customer_markers", "recall_actions", "recall_step_runs", "customer_recalls", "recall_templates",
                  "recall_settings", "book_again_events", "book_again_reminders", "consumer_progress", "customers", "tenants"):
        op.drop_table(table)
    for column in ("booked_at", "source_ref", "source", "version", "ends_at"):
        op.drop_column("booking_history", column)
    op.drop_index("booking_history_customer", table_name="booking_history")
    op.create_index("booking_history_customer", "booking_history", ["tenant_id", "customer_id", "service"])
