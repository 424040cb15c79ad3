"""tags, typed custom fields and segments (issue 15, parts 2 and 3); issue.segment_id

Revision ID: 0024
Revises: 0022
"""
import sqlalchemy as sa
from alembic import op

import newsletter.db.base

revision = "0024"
down_revision = "0026"  # landed after 0026; ids are kept, the chain is the landing order
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tag",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=50), nullable=False),
        sa.Column("created_at", newsletter.db.base.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    op.create_table(
        "subscriber_tag",
        sa.Column("subscriber_id", sa.Integer(), nullable=False),
        sa.Column("tag_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["subscriber_id"], ["subscriber.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["tag_id"], ["tag.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("subscriber_id", "tag_id"),
    )
    op.create_index("ix_subscriber_tag_tag", "subscriber_tag", ["tag_id", "subscriber_id"])
    op.create_table(
        "field_definition",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=40), nullable=False),
        sa.Column("label", sa.String(length=100), nullable=False),
        sa.Column("type", sa.Enum("text", "number", "date", "bool", name="field_type", native_enum=False,
                                  length=20), nullable=False),
        sa.Column("created_at", newsletter.db.base.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key"),
    )
    op.create_table(
        "subscriber_field",
        sa.Column("subscriber_id", sa.Integer(), nullable=False),
        sa.Column("field_id", sa.Integer(), nullable=False),
        sa.Column("text_value", sa.String(length=500), nullable=True),
        sa.Column("number_value", sa.Float(), nullable=True),
        sa.Column("date_value", sa.Date(), nullable=True),
        sa.Column("bool_value", sa.Boolean(), nullable=True),
        sa.ForeignKeyConstraint(["subscriber_id"], ["subscriber.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["field_id"], ["field_definition.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("subscriber_id", "field_id"),
    )
    op.create_index("ix_subscriber_field_text", "subscriber_field", ["field_id", "text_value"])
    op.create_index("ix_subscriber_field_number", "subscriber_field", ["field_id", "number_value"])
    op.create_index("ix_subscriber_field_date", "subscriber_field", ["field_id", "date_value"])
    op.create_table(
        "segment",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("list_id", sa.Integer(), nullable=False),
        sa.Column("filter", sa.JSON(), nullable=False),
        sa.Column("created_at", newsletter.db.base.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.ForeignKeyConstraint(["list_id"], ["mailing_list.id"], ondelete="CASCADE"),
        sa.UniqueConstraint("list_id", "name"),
    )
    # Batch mode: SQLite cannot add a foreign key to an existing table in place.
    with op.batch_alter_table("issue") as batch:
        batch.add_column(sa.Column("segment_id", sa.Integer(), nullable=True))
        batch.create_foreign_key("fk_issue_segment", "segment", ["segment_id"], ["id"], ondelete="RESTRICT")


def downgrade() -> None:
    with op.batch_alter_table("issue") as batch:
        batch.drop_constraint("fk_issue_segment", type_="foreignkey")
        batch.drop_column("segment_id")
    op.drop_table("segment")
    op.drop_index("ix_subscriber_field_date", "subscriber_field")
    op.drop_index("ix_subscriber_field_number", "subscriber_field")
    op.drop_index("ix_subscriber_field_text", "subscriber_field")
    op.drop_table("subscriber_field")
    op.drop_table("field_definition")
    op.drop_index("ix_subscriber_tag_tag", "subscriber_tag")
    op.drop_table("subscriber_tag")
    op.drop_table("tag")
