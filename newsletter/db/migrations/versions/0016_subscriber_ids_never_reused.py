"""subscriber ids are never reused on SQLite (AUTOINCREMENT)

Links in mail carry a reader's id under a signature. Without AUTOINCREMENT SQLite hands the
highest id out again once that reader is erased, and the erased reader's old links would act
on the next sign-up. PostgreSQL sequences never go back, so only SQLite changes.

Revision ID: 0016
Revises: 0015
"""
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    # Rebuilt with the rows' own ids, so sqlite_sequence starts at the highest id in use; env.py
    # turns foreign keys off around the rebuild so no delivery or history row is cascaded away.
    with op.batch_alter_table("subscriber", recreate="always", table_kwargs={"sqlite_autoincrement": True}):
        pass


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    with op.batch_alter_table("subscriber", recreate="always", table_kwargs={"sqlite_autoincrement": False}):
        pass
