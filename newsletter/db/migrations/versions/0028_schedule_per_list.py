"""a weekly schedule per list: cycle_schedule keyed by list, weekly_cycle by (list, week)

The stored schedule (one row, id 1) and every week the cycle handled were the first list's: they
become list 1's. Each list's week is then composed and sent once, claimed by inserting its
(list_id, week) row. Going down keeps only the first list's rows (other lists' weeks and
schedules cannot be kept in the one-list tables) and refuses when issues of other lists were
composed by the cycle, as 0023 does.

Revision ID: 0028
Revises: 0023
"""
import sqlalchemy as sa
from alembic import op

import newsletter.db.base

revision = "0028"
down_revision = "0027"  # landed after 0027 (it needs 0023); ids are kept, the chain is the landing order
branch_labels = None
depends_on = None

SCHEDULE_COLUMNS = "compose_day, compose_time, send_day, send_time, time_zone, mode, updated_at"
CYCLE_COLUMNS = "week, state, issue_id, composed_at, send_at, dispatched_at, waves_done, note, updated_at"


def _schedule_columns() -> list[sa.Column]:  # type: ignore[type-arg]
    return [
        sa.Column("compose_day", sa.String(length=3), nullable=False),
        sa.Column("compose_time", sa.String(length=5), nullable=False),
        sa.Column("send_day", sa.String(length=3), nullable=False),
        sa.Column("send_time", sa.String(length=5), nullable=False),
        sa.Column("time_zone", sa.String(length=64), nullable=False),
        sa.Column("mode", sa.Enum("auto", "approve", "local-time", name="schedule_mode", native_enum=False,
                                  length=20), nullable=False),
        sa.Column("updated_at", newsletter.db.base.UTCDateTime(), nullable=False),
    ]


def _cycle_columns() -> list[sa.Column]:  # type: ignore[type-arg]
    return [
        sa.Column("week", sa.String(length=10), nullable=False),
        sa.Column("state", sa.Enum("composed", "awaiting_approval", "sending", "sent", "empty", "not_approved",
                                   "missed", name="cycle_state", native_enum=False, length=20), nullable=False),
        sa.Column("issue_id", sa.Integer(), sa.ForeignKey("issue.id", ondelete="SET NULL"), nullable=True),
        sa.Column("composed_at", newsletter.db.base.UTCDateTime(), nullable=True),
        sa.Column("send_at", newsletter.db.base.UTCDateTime(), nullable=True),
        sa.Column("dispatched_at", newsletter.db.base.UTCDateTime(), nullable=True),
        sa.Column("waves_done", sa.JSON(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("updated_at", newsletter.db.base.UTCDateTime(), nullable=False),
    ]


def _list_column() -> sa.Column:  # type: ignore[type-arg]
    return sa.Column("list_id", sa.Integer(), sa.ForeignKey("mailing_list.id", ondelete="CASCADE"), nullable=False)


def _sqlite_rebuild(table: str, columns: list[sa.Column], key: list[str], copy: str) -> None:  # type: ignore[type-arg]
    # SQLite cannot change a primary key in place: a new table, the rows copied (nothing refers
    # to either table, so dropping the old one takes nothing with it).
    op.create_table(f"{table}_new", *columns, sa.PrimaryKeyConstraint(*key))
    op.execute(f"INSERT INTO {table}_new {copy}")
    op.drop_table(table)
    op.rename_table(f"{table}_new", table)


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _sqlite_rebuild("cycle_schedule", [_list_column(), *_schedule_columns()], ["list_id"],
                        f"(list_id, {SCHEDULE_COLUMNS}) SELECT 1, {SCHEDULE_COLUMNS} FROM cycle_schedule WHERE id = 1")
        _sqlite_rebuild("weekly_cycle", [_list_column(), *_cycle_columns()], ["list_id", "week"],
                        f"(list_id, {CYCLE_COLUMNS}) SELECT 1, {CYCLE_COLUMNS} FROM weekly_cycle")
        return
    op.execute("DELETE FROM cycle_schedule WHERE id <> 1")  # never written: one row was all there was
    for table, key in (("cycle_schedule", "list_id"), ("weekly_cycle", "list_id, week")):
        op.execute(f"ALTER TABLE {table} ADD COLUMN list_id INTEGER NOT NULL DEFAULT 1 "
                   f"REFERENCES mailing_list (id) ON DELETE CASCADE")
        op.execute(f"ALTER TABLE {table} ALTER COLUMN list_id DROP DEFAULT")
        op.execute(f"ALTER TABLE {table} DROP CONSTRAINT {table}_pkey")
        op.execute(f"ALTER TABLE {table} ADD CONSTRAINT {table}_pkey PRIMARY KEY ({key})")
    op.execute("ALTER TABLE cycle_schedule DROP COLUMN id")


def downgrade() -> None:
    conn = op.get_bind()
    others = conn.scalar(sa.text("SELECT count(*) FROM weekly_cycle WHERE list_id <> 1 AND issue_id IS NOT NULL"))
    if others:
        raise RuntimeError(f"{others} weeks of lists other than the first were composed; delete their issues "
                           "before downgrading")
    op.execute("DELETE FROM weekly_cycle WHERE list_id <> 1")
    op.execute("DELETE FROM cycle_schedule WHERE list_id <> 1")
    if conn.dialect.name == "sqlite":
        _sqlite_rebuild("cycle_schedule", [sa.Column("id", sa.Integer(), nullable=False), *_schedule_columns()],
                        ["id"], f"(id, {SCHEDULE_COLUMNS}) SELECT 1, {SCHEDULE_COLUMNS} FROM cycle_schedule")
        _sqlite_rebuild("weekly_cycle", _cycle_columns(), ["week"],
                        f"({CYCLE_COLUMNS}) SELECT {CYCLE_COLUMNS} FROM weekly_cycle")
        return
    op.execute("ALTER TABLE cycle_schedule ADD COLUMN id INTEGER NOT NULL DEFAULT 1")
    op.execute("ALTER TABLE cycle_schedule ALTER COLUMN id DROP DEFAULT")
    for table, key in (("cycle_schedule", "id"), ("weekly_cycle", "week")):
        op.execute(f"ALTER TABLE {table} DROP CONSTRAINT {table}_pkey")
        op.execute(f"ALTER TABLE {table} DROP COLUMN list_id")
        op.execute(f"ALTER TABLE {table} ADD CONSTRAINT {table}_pkey PRIMARY KEY ({key})")
