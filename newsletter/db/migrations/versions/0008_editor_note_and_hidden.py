"""the editor's note atop an issue, and articles the editor hid

Revision ID: 0008
Revises: 0007
"""
import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMN with a server default (as 0004): batch mode would rebuild `issue` on SQLite,
    # and ON DELETE CASCADE would take its deliveries with it.
    op.add_column("issue", sa.Column("editor_note", sa.Text(), server_default="", nullable=False))
    op.add_column("article", sa.Column("hidden", sa.Boolean(), server_default=sa.false(), nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("article") as batch_op:
        batch_op.drop_column("hidden")
    with op.batch_alter_table("issue") as batch_op:
        batch_op.drop_column("editor_note")
