"""A/B subject tests: ab_test and ab_variant, and delivery.variant (the subject a reader got)

delivery.variant is a nullable column added in place (no batch copy on SQLite, which would drop
the delivery_tally triggers; no table rewrite on PostgreSQL): rows of sends without a test keep it
NULL.

Revision ID: 0027
Revises: 0022
"""
import sqlalchemy as sa
from alembic import op

import newsletter.db.base

revision = "0027"
down_revision = "0025"  # landed after 0025; ids are kept, the chain is the landing order
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ab_test",
        sa.Column("issue_id", sa.Integer(), nullable=False),
        sa.Column("fraction", sa.Float(), nullable=False),
        sa.Column("metric", sa.String(length=10), nullable=False),
        sa.Column("wait_hours", sa.Float(), nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("winner", sa.SmallInteger(), nullable=True),
        sa.Column("started_at", newsletter.db.base.UTCDateTime(), nullable=True),
        sa.Column("decided_at", newsletter.db.base.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["issue_id"], ["issue.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("issue_id"),
    )
    op.create_table(
        "ab_variant",
        sa.Column("issue_id", sa.Integer(), nullable=False),
        sa.Column("idx", sa.SmallInteger(), nullable=False),
        sa.Column("subject", sa.String(length=300), nullable=False),
        sa.ForeignKeyConstraint(["issue_id"], ["ab_test.issue_id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("issue_id", "idx"),
    )
    op.add_column("delivery", sa.Column("variant", sa.SmallInteger(), nullable=True))


def downgrade() -> None:
    # SQLite >= 3.35 drops a plain column in place (a batch copy would lose the tally triggers).
    op.drop_column("delivery", "variant")
    op.drop_table("ab_variant")
    op.drop_table("ab_test")
