"""confirmation emails counted per 24-hour window (sign-up and change of address), not for ever

Revision ID: 0015
Revises: 0014
"""
import sqlalchemy as sa
from alembic import op

import newsletter.db.base

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMN (nullable, no rebuild): a reader with no window start has a fresh window.
    op.add_column("subscriber", sa.Column("confirmations_since", newsletter.db.base.UTCDateTime(), nullable=True))
    op.add_column("subscriber", sa.Column("email_changes_since", newsletter.db.base.UTCDateTime(), nullable=True))


def downgrade() -> None:
    # DROP COLUMN is native on SQLite >= 3.35: no batch rebuild of the subscriber table.
    op.drop_column("subscriber", "email_changes_since")
    op.drop_column("subscriber", "confirmations_since")
