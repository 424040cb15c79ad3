"""several newsletters: mailing_list, subscription, and the list of each issue and source

Existing data becomes the first list (id 1): its name is the list profile's (else
NEWSLETTER_LIST_NAME, else the built-in default), every reader gets a subscription to it
(``unsubscribed`` when they left, else ``active``: their standing still decides who is mailed),
and every issue and source belongs to it. A week is composed once per list, so the unique key
on ``issue.week`` becomes (list_id, week).

Revision ID: 0023
Revises: 0022
"""
import os
import re

import sqlalchemy as sa
from alembic import op

import newsletter.db.base

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None

DEFAULT_NAME = "The Weekly Briefing"
# Unnamed constraints of 0001 (SQLite reflects them without a name): named for the batch rebuild.
NAMING = {"uq": "uq_%(table_name)s_%(column_0_name)s", "fk": "fk_%(table_name)s_%(column_0_name)s"}


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:60].strip("-") or "main"


def _first_list() -> None:
    conn = op.get_bind()
    stored = conn.scalar(sa.text("SELECT list_name FROM list_profile WHERE id = 1"))
    name = (stored or os.environ.get("NEWSLETTER_LIST_NAME") or DEFAULT_NAME).strip()[:100] or DEFAULT_NAME
    # No id given: on PostgreSQL the sequence hands out 1 and stays in step.
    conn.execute(sa.text("INSERT INTO mailing_list (name, slug, created_at) VALUES (:name, :slug, :now)"),
                 {"name": name, "slug": _slug(name), "now": newsletter.db.base.utcnow().replace(tzinfo=None)})


def upgrade() -> None:
    op.create_table(
        "mailing_list",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("slug", sa.String(length=60), nullable=False),
        sa.Column("from_address", sa.String(length=320), nullable=True),
        sa.Column("created_at", newsletter.db.base.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("slug", name="uq_mailing_list_slug"),
    )
    _first_list()
    op.create_table(
        "subscription",
        sa.Column("list_id", sa.Integer(), nullable=False),
        sa.Column("subscriber_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.Enum("active", "unsubscribed", name="subscription_status", native_enum=False,
                                    length=20), nullable=False),
        sa.Column("created_at", newsletter.db.base.UTCDateTime(), nullable=False),
        sa.Column("unsubscribed_at", newsletter.db.base.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["list_id"], ["mailing_list.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["subscriber_id"], ["subscriber.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("list_id", "subscriber_id"),
    )
    op.create_index("ix_subscription_subscriber", "subscription", ["subscriber_id", "list_id"])
    op.execute(
        "INSERT INTO subscription (list_id, subscriber_id, status, created_at, unsubscribed_at) "
        "SELECT 1, id, CASE WHEN status = 'unsubscribed' THEN 'unsubscribed' ELSE 'active' END, created_at, "
        "CASE WHEN status = 'unsubscribed' THEN unsubscribed_at END FROM subscriber ORDER BY id"
    )
    with op.batch_alter_table("issue", naming_convention=NAMING) as batch:
        batch.add_column(sa.Column("list_id", sa.Integer(), nullable=False, server_default="1"))
        batch.create_foreign_key("fk_issue_list_id", "mailing_list", ["list_id"], ["id"], ondelete="RESTRICT")
        batch.drop_constraint("issue_week_key" if _postgres() else "uq_issue_week", type_="unique")
        batch.create_unique_constraint("uq_issue_list_week", ["list_id", "week"])
    op.create_index("ix_issue_list", "issue", ["list_id", "id"])
    with op.batch_alter_table("source", naming_convention=NAMING) as batch:
        batch.add_column(sa.Column("list_id", sa.Integer(), nullable=False, server_default="1"))
        batch.create_foreign_key("fk_source_list_id", "mailing_list", ["list_id"], ["id"], ondelete="RESTRICT")
    op.create_index("ix_source_list", "source", ["list_id"])


def _postgres() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def downgrade() -> None:
    conn = op.get_bind()
    others = conn.scalar(sa.text("SELECT count(*) FROM issue WHERE list_id <> 1"))
    if others:
        raise RuntimeError(f"{others} issues belong to lists other than the first; delete them before downgrading")
    op.drop_index("ix_source_list", "source")
    with op.batch_alter_table("source", naming_convention=NAMING) as batch:
        batch.drop_constraint("fk_source_list_id", type_="foreignkey")
        batch.drop_column("list_id")
    op.drop_index("ix_issue_list", "issue")
    with op.batch_alter_table("issue", naming_convention=NAMING) as batch:
        batch.drop_constraint("uq_issue_list_week", type_="unique")
        batch.create_unique_constraint("issue_week_key" if _postgres() else "uq_issue_week", ["week"])
        batch.drop_constraint("fk_issue_list_id", type_="foreignkey")
        batch.drop_column("list_id")
    op.drop_index("ix_subscription_subscriber", "subscription")
    op.drop_table("subscription")
    op.drop_table("mailing_list")
