"""list settings and design: one row of editor overrides of the Settings defaults

Revision ID: 0010
Revises: 0009
"""
import sqlalchemy as sa
from alembic import op

import newsletter.db.base

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Every column nullable: NULL means "use the NEWSLETTER_ setting (or the built-in default)".
    op.create_table(
        "list_profile",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("list_name", sa.String(length=100), nullable=True),
        sa.Column("from_address", sa.String(length=320), nullable=True),
        sa.Column("rate_per_second", sa.Float(), nullable=True),
        sa.Column("rate_per_hour", sa.Integer(), nullable=True),
        sa.Column("logo_url", sa.String(length=2000), nullable=True),
        sa.Column("accent_color", sa.String(length=7), nullable=True),
        sa.Column("font_family", sa.String(length=200), nullable=True),
        sa.Column("footer_text", sa.Text(), nullable=True),
        sa.Column("custom_template", sa.Text(), nullable=True),
        sa.Column("template_draft", sa.Text(), nullable=True),
        sa.Column("tracking_enabled", sa.Boolean(), nullable=True),
        sa.Column("welcome_enabled", sa.Boolean(), nullable=True),
        sa.Column("welcome_subject", sa.String(length=200), nullable=True),
        sa.Column("welcome_body_markdown", sa.Text(), nullable=True),
        sa.Column("updated_at", newsletter.db.base.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )


def downgrade() -> None:
    op.drop_table("list_profile")
