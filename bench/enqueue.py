"""Enqueue benchmark: how long ``Publisher.queue`` takes to queue one issue for N readers.

    .venv/bin/python bench/enqueue.py --readers 1000000 [--runs 3] [--explain] [--tag-every N]

Builds the seed issue and N active readers in a fresh PostgreSQL database `nl_bench_enqueue`
(or SQLite with --database-url sqlite:///...), analyses and checkpoints, then times
`Publisher.queue` (render, preflight, the compare-and-set and the one INSERT ... SELECT of N
deliveries, the tally) and, inside it, the store's enqueue transaction alone. Each further run empties the delivery table (TRUNCATE), puts the issue
back to draft and checkpoints, so every run starts from the same state. `--explain` runs the
delivery INSERT of each run under EXPLAIN (ANALYZE, BUFFERS, WAL) inside the real queue call (its
rows are inserted and committed as usual) and prints the plan: the foreign-key and tally
triggers' times are at its end. Prints one JSON object; the plans (with --explain) go to stderr.
With `--tag-every N` every Nth reader gets the tag `bench` and the issue is queued to a segment
"tag bench" (the segment's filter in the same INSERT ... SELECT): N readers / N are queued.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import event, text  # noqa: E402
from sqlalchemy.engine import Engine  # noqa: E402

from newsletter.config import load_settings  # noqa: E402
from newsletter.content.ingest import ingest_path  # noqa: E402
from newsletter.db.engine import migrate  # noqa: E402
from newsletter.issues.compose import compose  # noqa: E402
from newsletter.services import Services  # noqa: E402
from databases import add_readers, fresh_postgres, subscribe_all  # noqa: E402  (bench/, the script's own folder)

def insert_readers(services: Services, count: int) -> float:
    """N active readers; on PostgreSQL one INSERT ... SELECT over generate_series (seconds, not a
    minute of executemany). Returns the seconds it took."""
    started = time.perf_counter()
    if services.engine.dialect.name == "postgresql":
        with services.engine.begin() as conn:
            conn.execute(text(
                "INSERT INTO subscriber (email, name, status, source, attributes, created_at, confirmations_sent,"
                " email_changes_sent) SELECT 'reader' || i || '@example.net', 'Reader ' || i, 'active', 'bench',"
                " '{}', now(), 0, 0 FROM generate_series(0, :n - 1) AS i"
            ), {"n": count})
            subscribe_all(conn)
    else:
        add_readers(services.sessions, count)
    return time.perf_counter() - started


def tag_segment(services: Services, every: int) -> int:
    """Tag every ``every``-th reader ``bench`` (one INSERT ... SELECT) and save the segment of that tag."""
    with services.engine.begin() as conn:
        conn.execute(text("INSERT INTO tag (name, created_at) VALUES ('bench', CURRENT_TIMESTAMP)"))
        conn.execute(text("INSERT INTO subscriber_tag (subscriber_id, tag_id) SELECT id, (SELECT id FROM tag "
                          "WHERE name = 'bench') FROM subscriber WHERE id % :n = 0"), {"n": every})
    return services.audience.create_segment("tag bench", "main", {"tags": [{"match": "any", "tags": ["bench"]}]}).id


def settle(engine: Engine) -> None:
    """Statistics taken and dirty pages written, so a run neither plans on an empty table nor pays
    for the previous step's checkpoint (autovacuum may be off on the bench server)."""
    if engine.dialect.name != "postgresql":
        return
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE"))
        conn.execute(text("CHECKPOINT"))


def reset(engine: Engine, issue_id: int) -> None:
    """Back to before the send: no deliveries, no tally, the issue a draft."""
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("TRUNCATE delivery, delivery_tally"))
        else:
            conn.execute(text("DELETE FROM delivery"))
            conn.execute(text("DELETE FROM delivery_tally"))
        conn.execute(text("UPDATE issue SET status = 'draft', sent_at = NULL, segment_id = NULL WHERE id = :id"),
                     {"id": issue_id})


def explain_inserts(engine: Engine, plans: list[str]) -> None:
    """Run the delivery INSERT under EXPLAIN ANALYZE (it still inserts) and keep its plan."""

    @event.listens_for(engine, "before_cursor_execute", retval=True)
    def before(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> Any:
        if statement.lstrip().upper().startswith("INSERT INTO DELIVERY "):
            statement = "EXPLAIN (ANALYZE, BUFFERS, WAL, VERBOSE) " + statement
        return statement, parameters

    @event.listens_for(engine, "after_cursor_execute")
    def after(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        if statement.startswith("EXPLAIN"):
            plans.append("\n".join(row[0] for row in cursor.fetchall()))


def watch_backends(engine: Engine, pids: list[int]) -> None:
    """Note the server process behind each new connection, to read its CPU time from /proc
    (same machine): on a shared 2-core box that, not the wall time, is what a change moves."""

    @event.listens_for(engine, "connect")
    def connect(dbapi_connection: Any, record: Any) -> None:
        if engine.dialect.name == "postgresql":
            with dbapi_connection.cursor() as cursor:
                cursor.execute("SELECT pg_backend_pid()")
                pids.append(int(cursor.fetchone()[0]))


def backends_cpu(pids: list[int]) -> float:
    """CPU seconds (user + system) the noted server processes have used so far."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def server_figures(engine: Engine) -> dict[str, int]:
    if engine.dialect.name != "postgresql":
        return {}
    with engine.connect() as conn:
        row = conn.execute(text(
            "SELECT pg_current_wal_lsn() - '0/0', (SELECT checkpoints_req + checkpoints_timed FROM pg_stat_bgwriter),"
            " pg_total_relation_size('delivery'), pg_relation_size('delivery')"
        )).one()
    return {"wal": int(row[0]), "checkpoints": int(row[1]), "total_bytes": int(row[2]), "heap_bytes": int(row[3])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--readers", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--database-url", default="", help="default: a fresh PostgreSQL database nl_bench_enqueue")
    parser.add_argument("--explain", action="store_true", help="the INSERT under EXPLAIN ANALYZE; plans to stderr")
    parser.add_argument("--tag-every", type=int, default=0, help="queue to a segment: readers whose id N divides")
    parser.add_argument("--database-name", default="nl_bench_enqueue", help="the fresh PostgreSQL database's name")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="nl-bench-enqueue-"))
    url = args.database_url or fresh_postgres(args.database_name)
    settings = load_settings(
        data_dir=work, database_url=url, backend="memory", secret_key="bench", admin_password="bench",
        from_address="The Weekly Briefing <briefing@example.org>", base_url="https://news.example.org",
    )
    pids: list[int] = []
    services = Services.build(settings, run_migrations=False)
    watch_backends(services.engine, pids)
    migrate(services.engine)
    try:
        ingest_path(services.sessions, ROOT / "seeds")
        issue_id = compose(services.sessions, settings).issue_id
        insert_seconds = insert_readers(services, args.readers)
        segment_id = tag_segment(services, args.tag_every) if args.tag_every else None
        plans: list[str] = []
        if args.explain:
            explain_inserts(services.engine, plans)
        seconds: list[float] = []
        cpu: list[float] = []
        enqueue_seconds: list[float] = []
        inner = services.store.enqueue

        def timed_enqueue(*a: Any, **k: Any) -> int | None:
            began = time.perf_counter()
            try:
                return inner(*a, **k)
            finally:
                enqueue_seconds.append(round(time.perf_counter() - began, 3))

        services.store.enqueue = timed_enqueue  # type: ignore[method-assign]
        queued = 0
        figures: dict[str, Any] = {}
        for run in range(args.runs):
            if run:
                reset(services.engine, issue_id)
            settle(services.engine)
            before = server_figures(services.engine)
            started, cpu_before = time.perf_counter(), backends_cpu(pids)
            queued = services.publisher.queue(issue_id, force=True, segment_id=segment_id).queued
            seconds.append(round(time.perf_counter() - started, 3))
            cpu.append(round(backends_cpu(pids) - cpu_before, 2))
            after = server_figures(services.engine)
            if before:
                figures = {"wal_mib": round((after["wal"] - before["wal"]) / 2**20, 1),
                           "checkpoints_during": after["checkpoints"] - before["checkpoints"],
                           "delivery_mib": round(after["total_bytes"] / 2**20, 1),
                           "delivery_heap_mib": round(after["heap_bytes"] / 2**20, 1)}
        with services.engine.connect() as conn:
            rows = conn.execute(text("SELECT count(*) FROM delivery WHERE issue_id = :id"), {"id": issue_id}).scalar()
            tally = conn.execute(text("SELECT sum(n) FROM delivery_tally WHERE issue_id = :id"), {"id": issue_id}).scalar()
    finally:
        services.close()
    for plan in plans:
        print(plan, file=sys.stderr)
    print(json.dumps({
        "readers": args.readers, "database": services.engine.dialect.name, "tag_every": args.tag_every or None,
        "readers_inserted_s": round(insert_seconds, 2), "queue_s": seconds,
        "queue_median_s": round(statistics.median(seconds), 3),
        "server_cpu_s": cpu, "server_cpu_median_s": statistics.median(cpu) if cpu else None,
        "enqueue_s": enqueue_seconds, "enqueue_median_s": round(statistics.median(enqueue_seconds), 3),
        "rows_per_s": round(args.readers / statistics.median(enqueue_seconds)),
        "queued": queued if not args.explain else None, "delivery_rows": rows, "tally_total": int(tally or 0),
        **figures,
    }))


if __name__ == "__main__":
    main()
