"""delivery_tally striped by slot: each database session adds to its own rows

Every worker's group commit added to the same (issue, status) rows, and held their row locks
until its commit's WAL flush: the workers' outcome writes queued behind each other (sampled on
PostgreSQL during a send: the record UPDATE waited on another transaction's lock more often than
it ran; docs/benchmarks.md). Now the trigger adds to the slot ``pg_backend_pid() % 64``: two
workers share rows only when their slots collide, and a count is the sum of at most 64 rows.
SQLite has one writer: everything stays in slot 0.

Revision ID: 0022
Revises: 0021
"""
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None

SLOTS = 64


def _change_function(slot: str | None) -> None:
    columns, value, key = ("issue_id, status, slot", f"{slot}, ", "issue_id, status, slot") if slot else (
        "issue_id, status", "", "issue_id, status")
    op.execute(f"""
    CREATE OR REPLACE FUNCTION delivery_tally_change(issue_ids int[], statuses text[], deltas bigint[]) RETURNS void
    LANGUAGE sql AS $$
      INSERT INTO delivery_tally ({columns}, n)
      SELECT i, s, {value}sum(d) FROM unnest(issue_ids, statuses, deltas) AS x(i, s, d)
      GROUP BY 1, 2 HAVING sum(d) <> 0 ORDER BY 1, 2
      ON CONFLICT ({key}) DO UPDATE SET n = delivery_tally.n + EXCLUDED.n
    $$""")


def _sqlite_triggers(slot: bool) -> None:
    columns, values = ("issue_id, status, slot", "NEW.issue_id, NEW.status, 0") if slot else (
        "issue_id, status", "NEW.issue_id, NEW.status")
    up = (f"INSERT INTO delivery_tally ({columns}, n) VALUES ({values}, 1) "
          f"ON CONFLICT ({columns}) DO UPDATE SET n = n + 1;")
    down = ("UPDATE delivery_tally SET n = n - 1 WHERE issue_id = OLD.issue_id AND status = OLD.status"
            + (" AND slot = 0;" if slot else ";"))
    op.execute(f"CREATE TRIGGER delivery_tally_insert AFTER INSERT ON delivery BEGIN {up} END")
    op.execute(f"CREATE TRIGGER delivery_tally_delete AFTER DELETE ON delivery BEGIN {down} END")
    op.execute("CREATE TRIGGER delivery_tally_update AFTER UPDATE OF status ON delivery "
               f"WHEN OLD.status <> NEW.status BEGIN {up} {down} END")


def _sqlite_table(slot: bool) -> None:
    # SQLite cannot change a primary key in place: a new table, the sums copied over. The
    # triggers name the table, so they go first (a rename checks them) and come back last.
    for event in ("insert", "delete", "update"):
        op.execute(f"DROP TRIGGER delivery_tally_{event}")
    columns: list[Any] = [sa.Column("issue_id", sa.Integer(), nullable=False),
               sa.Column("status", sa.String(length=20), nullable=False)]
    if slot:
        columns.append(sa.Column("slot", sa.SmallInteger(), nullable=False, server_default="0"))
    key = ["issue_id", "status"] + (["slot"] if slot else [])
    op.create_table("delivery_tally_new", *columns, sa.Column("n", sa.BigInteger(), nullable=False),
                    sa.PrimaryKeyConstraint(*key))
    op.execute("INSERT INTO delivery_tally_new (issue_id, status, n) "
               "SELECT issue_id, status, sum(n) FROM delivery_tally GROUP BY issue_id, status")
    op.drop_table("delivery_tally")
    op.rename_table("delivery_tally_new", "delivery_tally")
    _sqlite_triggers(slot)


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        _sqlite_table(slot=True)
        return
    op.add_column("delivery_tally", sa.Column("slot", sa.SmallInteger(), nullable=False, server_default="0"))
    op.drop_constraint("delivery_tally_pkey", "delivery_tally", type_="primary")
    op.create_primary_key("delivery_tally_pkey", "delivery_tally", ["issue_id", "status", "slot"])
    _change_function(f"pg_backend_pid() % {SLOTS}")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        _sqlite_table(slot=False)
        return
    # Fold the slots back into one row per (issue, status), then the old key and function.
    sums = ("(SELECT issue_id, status, sum(n) AS n, min(slot) AS keep FROM delivery_tally GROUP BY 1, 2) s "
            "WHERE t.issue_id = s.issue_id AND t.status = s.status")
    op.execute(f"UPDATE delivery_tally t SET n = s.n FROM {sums} AND t.slot = s.keep")
    op.execute(f"DELETE FROM delivery_tally t USING {sums} AND t.slot <> s.keep")
    op.drop_constraint("delivery_tally_pkey", "delivery_tally", type_="primary")
    op.drop_column("delivery_tally", "slot")
    op.create_primary_key("delivery_tally_pkey", "delivery_tally", ["issue_id", "status"])
    _change_function(None)
