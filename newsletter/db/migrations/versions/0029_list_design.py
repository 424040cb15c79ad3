"""a design per list: mailing_list.design, a JSON of design overrides over the first list's

NULL (every list until its editor changes it): the list is rendered with the first list's design
(the list profile's). Going down drops the overrides: every list is rendered with the first
list's design again.

Revision ID: 0029
Revises: 0028
"""
import sqlalchemy as sa
from alembic import op

revision = "0029"
down_revision = "0028"  # needs mailing_list (0023); the chain is the landing order
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("mailing_list") as batch:
        batch.add_column(sa.Column("design", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("mailing_list") as batch:
        batch.drop_column("design")
