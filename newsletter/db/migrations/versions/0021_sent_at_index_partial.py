"""ix_delivery_issue_sent_at holds sent rows only: a send's enqueue no longer writes one entry per
reader into it (every row is queued then, sent_at NULL); its readers (the send rate, first and
last send) all ask for sent_at IS NOT NULL, or min/max, which the planner restricts the same way

Revision ID: 0021
Revises: 0020
"""
import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_delivery_issue_sent_at", table_name="delivery")
    where = sa.text("sent_at IS NOT NULL")
    op.create_index("ix_delivery_issue_sent_at", "delivery", ["issue_id", "sent_at"],
                    sqlite_where=where, postgresql_where=where)


def downgrade() -> None:
    op.drop_index("ix_delivery_issue_sent_at", table_name="delivery")
    op.create_index("ix_delivery_issue_sent_at", "delivery", ["issue_id", "sent_at"])
