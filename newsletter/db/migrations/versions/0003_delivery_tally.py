"""delivery_tally: counts per (issue, status), kept by triggers so status is O(states), not O(rows)

Revision ID: 0003
Revises: 0002
"""
import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

# PostgreSQL: statement-level triggers with transition tables make one upsert per statement,
# taking the tally rows' locks in (issue, status) order so concurrent workers cannot deadlock.


def _postgres() -> None:
    # INSERT triggers may only name NEW TABLE and DELETE only OLD TABLE, so each event gets a
    # thin function that hands the right transition tables to one shared body.
    op.execute("""
    CREATE FUNCTION delivery_tally_change(issue_ids int[], statuses text[], deltas bigint[]) RETURNS void
    LANGUAGE sql AS $$
      INSERT INTO delivery_tally (issue_id, status, n)
      SELECT i, s, sum(d) FROM unnest(issue_ids, statuses, deltas) AS x(i, s, d)
      GROUP BY 1, 2 HAVING sum(d) <> 0 ORDER BY 1, 2
      ON CONFLICT (issue_id, status) DO UPDATE SET n = delivery_tally.n + EXCLUDED.n
    $$""")
    for event, tables, body in (
        ("INSERT", "NEW TABLE AS new_rows",
         "SELECT issue_id, status, count(*) FROM new_rows GROUP BY 1, 2"),
        ("DELETE", "OLD TABLE AS old_rows",
         "SELECT issue_id, status, -count(*) FROM old_rows GROUP BY 1, 2"),
        ("UPDATE", "OLD TABLE AS old_rows NEW TABLE AS new_rows",
         "SELECT issue_id, status, count(*) FROM new_rows GROUP BY 1, 2 "
         "UNION ALL SELECT issue_id, status, -count(*) FROM old_rows GROUP BY 1, 2"),
    ):
        name = f"delivery_tally_{event.lower()}"
        op.execute(f"""
        CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          PERFORM delivery_tally_change(array_agg(i), array_agg(s), array_agg(d))
          FROM ({body}) AS x(i, s, d);
          RETURN NULL;
        END $$""")
        op.execute(f"""CREATE TRIGGER {name} AFTER {event} ON delivery REFERENCING {tables}
                       FOR EACH STATEMENT EXECUTE FUNCTION {name}()""")


def _sqlite() -> None:
    # SQLite has one writer and cheap row triggers.
    up = ("INSERT INTO delivery_tally (issue_id, status, n) VALUES (NEW.issue_id, NEW.status, 1) "
          "ON CONFLICT (issue_id, status) DO UPDATE SET n = n + 1;")
    down = "UPDATE delivery_tally SET n = n - 1 WHERE issue_id = OLD.issue_id AND status = OLD.status;"
    op.execute(f"CREATE TRIGGER delivery_tally_insert AFTER INSERT ON delivery BEGIN {up} END")
    op.execute(f"CREATE TRIGGER delivery_tally_delete AFTER DELETE ON delivery BEGIN {down} END")
    op.execute("CREATE TRIGGER delivery_tally_update AFTER UPDATE OF status ON delivery "
               f"WHEN OLD.status <> NEW.status BEGIN {up} {down} END")


def upgrade() -> None:
    op.create_table(
        "delivery_tally",
        sa.Column("issue_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("n", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("issue_id", "status"),
    )
    op.execute("INSERT INTO delivery_tally (issue_id, status, n) "
               "SELECT issue_id, status, count(*) FROM delivery GROUP BY issue_id, status")
    if op.get_bind().dialect.name == "postgresql":
        _postgres()
    else:
        _sqlite()


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for event in ("insert", "delete", "update"):
            op.execute(f"DROP TRIGGER delivery_tally_{event} ON delivery")
            op.execute(f"DROP FUNCTION delivery_tally_{event}()")
        op.execute("DROP FUNCTION delivery_tally_change(int[], text[], bigint[])")
    else:
        for event in ("insert", "delete", "update"):
            op.execute(f"DROP TRIGGER delivery_tally_{event}")
    op.drop_table("delivery_tally")
