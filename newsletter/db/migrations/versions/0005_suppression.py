"""suppression list: keyed hashes of addresses never to mail again

Revision ID: 0005
Revises: 0004
"""
import sqlalchemy as sa
from alembic import op

import newsletter.db.base

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "suppression",
        sa.Column("address_hash", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.String(length=20), nullable=False),
        sa.Column("created_at", newsletter.db.base.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("address_hash"),
    )


def downgrade() -> None:
    op.drop_table("suppression")
