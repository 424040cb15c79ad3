"""editor accounts, their login sessions, and API tokens

Revision ID: 0007
Revises: 0006
"""
import sqlalchemy as sa
from alembic import op

import newsletter.db.base

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "app_user",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("role", sa.Enum("owner", "editor", name="user_role", native_enum=False, length=20), nullable=False),
        sa.Column("created_at", newsletter.db.base.UTCDateTime(), nullable=False),
        sa.Column("last_login_at", newsletter.db.base.UTCDateTime(), nullable=True),
        sa.Column("failed_logins", sa.Integer(), nullable=False),
        sa.Column("locked_until", newsletter.db.base.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("email"),
    )
    op.create_table(
        "api_token",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("prefix", sa.String(length=8), nullable=False),
        sa.Column("created_at", newsletter.db.base.UTCDateTime(), nullable=False),
        sa.Column("last_used_at", newsletter.db.base.UTCDateTime(), nullable=True),
        sa.Column("revoked_at", newsletter.db.base.UTCDateTime(), nullable=True),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["created_by"], ["app_user.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    op.create_table(
        "login_session",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("created_at", newsletter.db.base.UTCDateTime(), nullable=False),
        sa.Column("expires_at", newsletter.db.base.UTCDateTime(), nullable=False),
        # Deleting a user ends their sessions with them.
        sa.ForeignKeyConstraint(["user_id"], ["app_user.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )


def downgrade() -> None:
    op.drop_table("login_session")
    op.drop_table("api_token")
    op.drop_table("app_user")
