"""provider_event: the provider webhook events (and Mailgun tokens) already applied

Revision ID: 0026
Revises: 0022
"""
import sqlalchemy as sa
from alembic import op

import newsletter.db.base

revision = "0026"
down_revision = "0023"  # landed after 0023 (lists); ids are kept, the chain is the landing order
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "provider_event",
        sa.Column("provider", sa.String(length=20), nullable=False),
        sa.Column("event_id", sa.String(length=200), nullable=False),
        sa.Column("received_at", newsletter.db.base.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("provider", "event_id"),
    )
    op.create_index("ix_provider_event_received", "provider_event", ["received_at"])


def downgrade() -> None:
    op.drop_index("ix_provider_event_received", table_name="provider_event")
    op.drop_table("provider_event")
