"""Queue benchmark on PostgreSQL: enqueue N deliveries, status at N, claim rate across the send.

    .venv/bin/python bench/claims.py --readers 1000000

Creates N active readers in a fresh database, then times: the one-statement enqueue; `issues
status` (Publisher.progress) at N deliveries; a claim-and-record loop over the whole send (no
SMTP: each batch is recorded as sent), reporting the claim rate in the first and last 10% of
the send and this process's peak memory. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import text  # noqa: E402

from newsletter.config import load_settings  # noqa: E402
from newsletter.delivery.types import Outcome  # noqa: E402
from newsletter.db.base import utcnow
from newsletter.delivery.models import DeliveryStatus
from newsletter.issues.models import Issue, IssueStatus
from newsletter.services import Services  # noqa: E402
from databases import add_readers, fresh_postgres  # noqa: E402  (bench/, the script's own folder)

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--readers", type=int, default=1_000_000)
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--database", default="nl_bench_claims")
    args = parser.parse_args()

    url = fresh_postgres(args.database)
    settings = load_settings(data_dir=Path("/tmp/nl-bench-queue"), database_url=url, backend="memory")
    services = Services.build(settings)
    add_readers(services.sessions, args.readers)
    with services.sessions.begin() as session:
        issue = Issue(number=1, subject="Bench", preheader="", html="x", text="x", status=IssueStatus.DRAFT)
        session.add(issue)
        session.flush()
        issue_id = issue.id
    with services.engine.begin() as conn:
        conn.execute(text("ANALYZE"))

    started = time.perf_counter()
    queued = services.store.enqueue(issue_id)
    assert queued is not None, "the bench issue is a fresh draft: the send starts"
    enqueue_s = time.perf_counter() - started
    with services.engine.begin() as conn:
        conn.execute(text("ANALYZE delivery"))

    status_ms = []
    for _ in range(5):
        started = time.perf_counter()
        services.publisher.progress(issue_id)
        status_ms.append((time.perf_counter() - started) * 1000)

    rates: list[float] = []
    cursor = 0
    done = 0
    tenth = max(queued // 10, 1)
    window_start, window_done = time.perf_counter(), 0
    while True:
        batch = services.store.claim("bench", args.batch_size, 300, after_id=cursor)
        if not batch.claims:
            break
        cursor = batch.cursor
        now = utcnow()
        services.store.record("bench", [
            Outcome(c.delivery_id, c.subscriber_id, DeliveryStatus.SENT, 1, 250, "ok", None, sent_at=now)
            for c in batch.claims
        ])
        done += len(batch.claims)
        window_done += len(batch.claims)
        if window_done >= tenth:
            rates.append(window_done / (time.perf_counter() - window_start))
            window_start, window_done = time.perf_counter(), 0
    started = time.perf_counter()
    services.publisher.progress(issue_id)
    status_end_ms = (time.perf_counter() - started) * 1000
    services.close()
    print(json.dumps({
        "readers": args.readers,
        "enqueued": queued,
        "enqueue_seconds": round(enqueue_s, 2),
        "enqueue_rows_per_s": round(queued / enqueue_s),
        "status_ms_at_start": round(min(status_ms), 1),
        "status_ms_at_end": round(status_end_ms, 1),
        "claimed_and_recorded": done,
        "claim_rows_per_s_first_10pct": round(rates[0]) if rates else None,
        "claim_rows_per_s_last_10pct": round(rates[-1]) if rates else None,
        "claim_rate_per_10pct": [round(r) for r in rates],
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }, indent=2))


if __name__ == "__main__":
    main()
