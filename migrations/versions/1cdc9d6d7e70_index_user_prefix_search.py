"""Index user prefix search (e-mail and lowercased name, with pattern ops on PostgreSQL)

Revision ID: 1cdc9d6d7e70
Revises: 0d7efb6e7a26
Create Date: 2026-11-23 11:37:18.470773

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "1cdc9d6d7e70"
down_revision = "0d7efb6e7a26"
branch_labels = None
depends_on = None


def upgrade():
    op.create_index(
        "ix_users_tenant_email_prefix",
        "users",
        ["tenant_id", "email_normalized"],
        unique=False,
        postgresql_ops={"email_normalized": "varchar_pattern_ops"},
    )
    # An expression index: autogenerate cannot see it on SQLite, so it is written by hand.
    op.create_index(
        "ix_users_tenant_name_prefix",
        "users",
        ["tenant_id", sa.text("lower(name) varchar_pattern_ops")]
        if op.get_bind().dialect.name == "postgresql"
        else ["tenant_id", sa.text("lower(name)")],
        unique=False,
    )


def downgrade():
    op.drop_index("ix_users_tenant_name_prefix", table_name="users")
    op.drop_index("ix_users_tenant_email_prefix", table_name="users")
