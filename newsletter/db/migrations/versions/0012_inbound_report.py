"""inbound_report: bounces and complaints that changed nothing, for lack of proof

A report is believed only when it carries one of our signed tokens; the others are kept here
for the owner (`newsletter bounces unverified`). subscriber_event.kind gains "unsuppressed":
the enum is stored as a plain string (native_enum=False, no CHECK), so no change is needed.

Revision ID: 0012
Revises: 0011
"""
import sqlalchemy as sa
from alembic import op

import newsletter.db.base

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "inbound_report",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("received_at", newsletter.db.base.UTCDateTime(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("sent_to", sa.String(length=320), nullable=False),
        sa.Column("addresses", sa.JSON(), nullable=False),
        sa.Column("reason", sa.String(length=300), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_inbound_report_received", "inbound_report", ["received_at"])


def downgrade() -> None:
    op.drop_index("ix_inbound_report_received", table_name="inbound_report")
    op.drop_table("inbound_report")
