"""failed logins per account and client address

A lock-out on the user row let anyone lock the owner out from anywhere; failures are now counted
per (account name, client address), in the database so every web process agrees. The old
`app_user.failed_logins` / `locked_until` columns stay (unused): dropping them would rebuild the
table on SQLite.

Revision ID: 0014
Revises: 0013
"""
import sqlalchemy as sa
from alembic import op

import newsletter.db.base

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "login_failure",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account", sa.String(length=64), nullable=False),
        sa.Column("client", sa.String(length=64), nullable=False),
        sa.Column("failures", sa.Integer(), server_default="0", nullable=False),
        sa.Column("last_failed_at", newsletter.db.base.UTCDateTime(), nullable=True),
        sa.Column("locked_until", newsletter.db.base.UTCDateTime(), nullable=True),
        sa.Column("last_success_at", newsletter.db.base.UTCDateTime(), nullable=True),
        sa.Column("updated_at", newsletter.db.base.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("account", "client", name="uq_login_failure_account_client"),
    )
    op.create_index("ix_login_failure_updated_at", "login_failure", ["updated_at"])


def downgrade() -> None:
    op.drop_index("ix_login_failure_updated_at", table_name="login_failure")
    op.drop_table("login_failure")
