"""How customers reach a tenant (phone, e-mail, web address), and each booking's short My pages
link code (`/l/<code>`, printed on letters). Bookings made before have no short link; their
letters print the signed link.

Revision ID: 0003
"""
import sqlalchemy as sa
from alembic import op

revision = "0004_tenant_contact"
down_revision = "0003_limits"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("tenants", sa.Column("phone", sa.Text))
    op.add_column("tenants", sa.Column("email", sa.Text))
    op.add_column("tenants", sa.Column("website", sa.Text))
    op.add_column("bookings", sa.Column("short_code", sa.Text))
    op.create_unique_constraint("bookings_short_code_key", "bookings", ["short_code"])


def downgrade() -> None:
    op.drop_constraint("bookings_short_code_key", "bookings")
    op.drop_column("bookings", "short_code")
    op.drop_column("tenants", "website")
    op.drop_column("tenants", "email")
    op.drop_column("tenants", "phone")
