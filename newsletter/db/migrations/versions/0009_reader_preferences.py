"""reader preferences: pause until a date, a new address awaiting confirmation

Revision ID: 0009
Revises: 0008
"""
import sqlalchemy as sa
from alembic import op

import newsletter.db.base

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMN works on both engines; the downgrade needs batch mode for SQLite.
    op.add_column("subscriber", sa.Column("paused_until", newsletter.db.base.UTCDateTime(), nullable=True))
    op.add_column("subscriber", sa.Column("pending_email", sa.String(length=320), nullable=True))
    op.add_column("subscriber", sa.Column("email_changes_sent", sa.Integer(), server_default="0", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("subscriber") as batch:
        batch.drop_column("email_changes_sent")
        batch.drop_column("pending_email")
        batch.drop_column("paused_until")
