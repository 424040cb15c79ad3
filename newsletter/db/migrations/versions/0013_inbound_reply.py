"""inbound_reply: when each address was last answered by mail (help, unsubscribe confirmation)

Revision ID: 0013
Revises: 0012
"""
import sqlalchemy as sa
from alembic import op

import newsletter.db.base

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "inbound_reply",
        sa.Column("address_hash", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("last_sent_at", newsletter.db.base.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("address_hash", "kind"),
    )
    op.create_index("ix_inbound_reply_last_sent", "inbound_reply", ["last_sent_at"])


def downgrade() -> None:
    op.drop_index("ix_inbound_reply_last_sent", table_name="inbound_reply")
    op.drop_table("inbound_reply")
