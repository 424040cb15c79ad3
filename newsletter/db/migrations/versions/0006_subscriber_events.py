"""subscriber events: a reader's history (sign-up, confirmation, bounces, complaints, edits)

Revision ID: 0006
Revises: 0005
"""
import sqlalchemy as sa
from alembic import op

import newsletter.db.base

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

KINDS = (
    "subscribed", "confirmed", "unsubscribed", "resubscribed", "imported", "bounced", "soft_bounce",
    "suspended", "complained", "auto_reply", "status_changed",
)


def upgrade() -> None:
    op.create_table(
        "subscriber_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subscriber_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.Enum(*KINDS, name="subscriber_event_kind", native_enum=False, length=20), nullable=False),
        sa.Column("detail", sa.String(length=500), nullable=False),
        sa.Column("created_at", newsletter.db.base.UTCDateTime(), nullable=False),
        # Erasing a reader (GDPR) deletes their history with them.
        sa.ForeignKeyConstraint(["subscriber_id"], ["subscriber.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_subscriber_event_subscriber", "subscriber_event", ["subscriber_id", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_subscriber_event_subscriber", table_name="subscriber_event")
    op.drop_table("subscriber_event")
