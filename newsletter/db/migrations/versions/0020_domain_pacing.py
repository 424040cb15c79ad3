"""domain_pace and domain_tally: per-domain pacing shared by every worker, and its counts per issue

Revision ID: 0020
Revises: 0019
"""
import sqlalchemy as sa
from alembic import op

import newsletter.db.base

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "domain_pace",
        sa.Column("domain", sa.String(length=253), nullable=False),
        sa.Column("rate", sa.Float(), nullable=False),
        sa.Column("ceiling", sa.Float(), nullable=False),
        sa.Column("changed_at", newsletter.db.base.UTCDateTime(), nullable=False),
        sa.Column("next_slot", newsletter.db.base.UTCDateTime(), nullable=False),
        sa.Column("booked_until", newsletter.db.base.UTCDateTime(), nullable=False),
        sa.Column("paused_until", newsletter.db.base.UTCDateTime(), nullable=True),
        sa.Column("strikes", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("domain"),
    )
    op.create_table(
        "domain_tally",
        sa.Column("issue_id", sa.Integer(), nullable=False),
        sa.Column("domain", sa.String(length=253), nullable=False),
        sa.Column("sent", sa.BigInteger(), nullable=False),
        sa.Column("deferred", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("issue_id", "domain"),
    )


def downgrade() -> None:
    op.drop_table("domain_tally")
    op.drop_table("domain_pace")
