"""Every table of the recall service's database, once: the migrations create exactly these (a
test compares them)."""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg

metadata = sa.MetaData()
UUID = pg.UUID(as_uuid=True)
Instant = sa.DateTime(timezone=True)

# --- the projection of other services' events ------------------------------------------------

tenants = sa.Table(
    "tenants", metadata,
    sa.Column("tenant_id", sa.Text, primary_key=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("time_zone", sa.Text, nullable=False),
    sa.Column("language", sa.Text, nullable=False),
    sa.Column("updated_at", Instant, nullable=False),
)

customers = sa.Table(
    "customers", metadata,
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
    sa.Index("customers_number", "tenant_id", "customer_number"),
)

booking_history = sa.Table(
    "booking_history", metadata,
    sa.Column("booking_id", UUID, primary_key=True),
    sa.Column("tenant_id", sa.Text, nullable=False),
    sa.Column("customer_id", UUID, nullable=False),
    sa.Column("service", sa.Text, nullable=False),
    sa.Column("starts_at", Instant, nullable=False),
    sa.Column("state", sa.Text, nullable=False),
    sa.Column("updated_at", Instant, nullable=False, server_default=sa.func.now()),
    sa.Column("ends_at", Instant),
    sa.Column("version", sa.Integer, nullable=False, server_default="0"),
    sa.Column("source", sa.Text, nullable=False, server_default="staff"),
    sa.Column("source_ref", sa.Text),
    sa.Column("booked_at", Instant, comment="when it was made (booking.created); empty until that event is here"),
    # The recall criteria read a customer's bookings of a service by start and state: from the index alone.
    sa.Index("booking_history_customer", "tenant_id", "customer_id", "service", postgresql_include=["starts_at", "state"]),
)

consumer_progress = sa.Table(
    "consumer_progress", metadata,
    sa.Column("replica", sa.Text, primary_key=True),
    sa.Column("consumer", sa.Text, primary_key=True),
    sa.Column("caught_up_at", Instant),
    sa.Column("partitions", pg.ARRAY(sa.Integer), nullable=False),
    sa.Column("topic_partitions", pg.ARRAY(sa.Integer), nullable=False),
    sa.Column("seen_at", Instant, nullable=False),
)

# --- book-again (flow D) ---------------------------------------------------------------------

book_again_reminders = sa.Table(
    "book_again_reminders", metadata,
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
    sa.Index("book_again_one_active", "tenant_id", "customer_id", unique=True,
             postgresql_where=sa.text("state IN ('scheduled', 'due')")),
    sa.Index("book_again_due", "due_at", postgresql_where=sa.text("state = 'due'")),
    sa.Index("book_again_customer", "tenant_id", "customer_id", "set_at"),
)

book_again_events = sa.Table(
    "book_again_events", metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("reminder_id", UUID, sa.ForeignKey("book_again_reminders.id"), nullable=False),
    sa.Column("at", Instant, nullable=False),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("detail", sa.Text),
    sa.Column("booking_id", UUID),
    sa.Index("book_again_events_reminder", "reminder_id", "at"),
)

# --- recall (flow E) -------------------------------------------------------------------------

recall_settings = sa.Table(
    "recall_settings", metadata,
    sa.Column("tenant_id", sa.Text, primary_key=True),
    sa.Column("enabled", sa.Boolean, nullable=False),
    sa.Column("flag_missing", sa.Boolean, nullable=False),
    sa.Column("run_offset_days", sa.Integer, nullable=False),
    sa.Column("day_length", sa.Interval, nullable=False),
    sa.Column("day_origin", Instant),
    sa.Column("updated_at", Instant, nullable=False),
)

recall_templates = sa.Table(
    "recall_templates", metadata,
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
    sa.Index("recall_templates_tenant", "tenant_id"),
)

customer_recalls = sa.Table(
    "customer_recalls", metadata,
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
    sa.Index("customer_recalls_one_active", "tenant_id", "customer_id", "template_id", unique=True,
             postgresql_where=sa.text("status = 'active'")),
    sa.Index("customer_recalls_due", "tenant_id", "next_step_day", postgresql_where=sa.text("status = 'active'")),
    sa.Index("customer_recalls_customer", "tenant_id", "customer_id"),
)

recall_step_runs = sa.Table(
    "recall_step_runs", metadata,
    sa.Column("recall_id", UUID, sa.ForeignKey("customer_recalls.id"), primary_key=True),
    sa.Column("course", sa.Integer, primary_key=True),
    sa.Column("after_days", sa.Integer, primary_key=True),
    sa.Column("tenant_id", sa.Text, nullable=False),
    sa.Column("recall_date", sa.Date, nullable=False),
    sa.Column("ran_at", Instant, nullable=False),
    sa.Column("outcome", sa.Text, nullable=False),
    sa.Column("criterion", sa.Text),
)

recall_actions = sa.Table(
    "recall_actions", metadata,
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
    sa.Index("recall_actions_recall", "recall_id"),
    sa.Index("recall_actions_list", "tenant_id", "created_at",
             postgresql_where=sa.text("state IN ('listed', 'awaiting-approval')")),
)

customer_markers = sa.Table(
    "customer_markers", metadata,
    sa.Column("tenant_id", sa.Text, primary_key=True),
    sa.Column("customer_id", UUID, primary_key=True),
    sa.Column("marker", sa.Text, nullable=False),
    sa.Column("set_at", Instant, nullable=False),
    sa.Column("set_by", sa.Text, nullable=False),
)

till_sales = sa.Table(
    "till_sales", metadata,
    sa.Column("tenant_id", sa.Text, primary_key=True),
    sa.Column("sale_id", sa.Text, primary_key=True),
    sa.Column("customer_id", UUID),
    sa.Column("customer_number", sa.Text),
    sa.Column("article_numbers", pg.ARRAY(sa.Text), nullable=False),
    sa.Column("sold_at", Instant, nullable=False),
    sa.Column("received_at", Instant, nullable=False),
    sa.Column("applied_at", Instant, comment="empty while the customer number is not known yet"),
    sa.Column("recalls_moved", sa.Integer, nullable=False, server_default="0"),
    sa.Index("till_sales_unresolved", "tenant_id", "customer_number", postgresql_where=sa.text("customer_id IS NULL")),
)
