"""article_revision: the writer's draft history of each article (title and Markdown body)

Revision ID: 0019
Revises: 0018
"""
import sqlalchemy as sa
from alembic import op

import newsletter.db.base

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "article_revision",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("article_id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=500), nullable=False),
        sa.Column("body_markdown", sa.Text(), nullable=False),
        sa.Column("saved_at", newsletter.db.base.UTCDateTime(), nullable=False),
        sa.Column("saved_by", sa.String(length=320), server_default="", nullable=False),
        sa.Column("autosaved", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.ForeignKeyConstraint(["article_id"], ["article.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_article_revision_article_saved", "article_revision", ["article_id", "saved_at"])


def downgrade() -> None:
    op.drop_index("ix_article_revision_article_saved", table_name="article_revision")
    op.drop_table("article_revision")
