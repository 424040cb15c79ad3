"""an issue's article mode (full or excerpt) and web version; the list's postal address

Revision ID: 0018
Revises: 0017
"""
import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMN with a server default (as 0011): batch mode would rebuild `issue` on SQLite,
    # and ON DELETE CASCADE would take its deliveries with it.
    op.add_column("issue", sa.Column("article_mode", sa.String(length=10), server_default="full", nullable=False))
    op.add_column("issue", sa.Column("web_html", sa.Text(), nullable=True))
    op.add_column("list_profile", sa.Column("postal_address", sa.Text(), nullable=True))


def downgrade() -> None:
    op.drop_column("list_profile", "postal_address")
    op.drop_column("issue", "web_html")
    op.drop_column("issue", "article_mode")
