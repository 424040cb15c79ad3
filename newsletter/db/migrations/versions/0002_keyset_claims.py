"""keyset claims: partial indexes per delivery state; status and rate indexes

Revision ID: 0002
Revises: 0001
"""
import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def _partial(name: str, column: str, status: str) -> None:
    where = sa.text(f"status = '{status}'")
    op.create_index(name, "delivery", [column], sqlite_where=where, postgresql_where=where)


def upgrade() -> None:
    op.drop_index("ix_delivery_pending", table_name="delivery")
    _partial("ix_delivery_queued", "id", "queued")
    _partial("ix_delivery_deferred_due", "next_attempt_at", "deferred")
    _partial("ix_delivery_lease", "lease_expires_at", "sending")
    op.create_index("ix_delivery_issue_status", "delivery", ["issue_id", "status"])
    op.create_index("ix_delivery_issue_sent_at", "delivery", ["issue_id", "sent_at"])


def downgrade() -> None:
    for name in ("ix_delivery_issue_sent_at", "ix_delivery_issue_status", "ix_delivery_lease",
                 "ix_delivery_deferred_due", "ix_delivery_queued"):
        op.drop_index(name, table_name="delivery")
    where = sa.text("status IN ('queued', 'deferred', 'sending')")
    op.create_index("ix_delivery_pending", "delivery", ["issue_id", "id"], sqlite_where=where, postgresql_where=where)
