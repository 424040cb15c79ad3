"""open and click tracking: whether an issue is tracked, its links, the opens and clicks

Revision ID: 0011
Revises: 0010
"""
import sqlalchemy as sa
from alembic import op

import newsletter.db.base

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMN with a server default (as 0004): batch mode would rebuild `issue` on SQLite,
    # and ON DELETE CASCADE would take its deliveries with it.
    op.add_column("issue", sa.Column("tracking", sa.Boolean(), server_default=sa.false(), nullable=False))
    op.create_table(
        "issue_link",
        sa.Column("issue_id", sa.Integer(), nullable=False),
        sa.Column("idx", sa.Integer(), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["issue_id"], ["issue.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("issue_id", "idx"),
    )
    op.create_table(
        "tracking_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("issue_id", sa.Integer(), nullable=False),
        sa.Column("subscriber_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("link_idx", sa.Integer(), nullable=True),
        sa.Column("created_at", newsletter.db.base.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["issue_id"], ["issue.id"], ondelete="CASCADE"),
        # Erasing a reader keeps the counts but forgets who opened or clicked.
        sa.ForeignKeyConstraint(["subscriber_id"], ["subscriber.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_tracking_event_count", "tracking_event", ["issue_id", "kind", "subscriber_id"])
    # The figures find the last issue sent to a reader before they left: by reader, then time.
    op.create_index("ix_delivery_subscriber_sent", "delivery", ["subscriber_id", "sent_at"])


def downgrade() -> None:
    op.drop_index("ix_delivery_subscriber_sent", table_name="delivery")
    op.drop_index("ix_tracking_event_count", table_name="tracking_event")
    op.drop_table("tracking_event")
    op.drop_table("issue_link")
    with op.batch_alter_table("issue") as batch_op:
        batch_op.drop_column("tracking")
