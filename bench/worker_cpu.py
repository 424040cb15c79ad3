"""CPU per message of one worker, in this process: Python, kernel and PostgreSQL, into smtp-sink.

    .venv/bin/python bench/worker_cpu.py --readers 20000 [--record-every N] [--webhook-sent] [--profile]

Queues the seed issue to N readers on a fresh PostgreSQL database (nl_bench_worker_cpu), then runs
one Worker (one SMTP connection, pipelined) until the queue is empty and prints the process's user
and system CPU, the PostgreSQL server's CPU, the outcome writes and the wall time, per message.
Short runs, so A/B comparisons can alternate many times while the machine's speed drifts.
--webhook-sent adds an outgoing webhook endpoint that wants `sent` (a message queued in the outbox per
delivery, in the outcome write; nothing is delivered: no courier runs here).
--profile adds cProfile (by thread CPU time) of the sending thread, top functions by cumulative time.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))


from cpu import named_cpu_seconds  # noqa: E402
from databases import add_readers, fresh_postgres  # noqa: E402
from postfix import free_port, start_sink  # noqa: E402
from newsletter.config import load_settings  # noqa: E402
from newsletter.content.ingest import ingest_path  # noqa: E402
from newsletter.delivery.dispatch import Worker  # noqa: E402
from newsletter.delivery.heap import keep_freed_memory  # noqa: E402
from newsletter.delivery.runtime import SendingParts  # noqa: E402
from newsletter.issues.compose import compose  # noqa: E402
from newsletter.services import Services  # noqa: E402
from newsletter.webhooks.endpoints import create_endpoint  # noqa: E402
from newsletter.webhooks.models import WebhookMessage  # noqa: E402
from sqlalchemy import func, select  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--readers", type=int, default=20000)
    parser.add_argument("--record-every", type=int, default=0, help="NEWSLETTER_RECORD_EVERY (default: the setting's)")
    parser.add_argument("--webhook-sent", action="store_true", help="an endpoint wants `sent` events")
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    url = fresh_postgres("nl_bench_worker_cpu")
    work = Path(tempfile.mkdtemp(prefix="nl-bench-"))
    port = free_port()
    sink = start_sink(port)
    common = {"data_dir": work, "database_url": url, "secret_key": "bench", "admin_password": "bench",
              "from_address": "The Weekly Briefing <briefing@example.org>", "base_url": "https://news.example.org"}
    try:
        services = Services.build(load_settings(backend="memory", **common))
        ingest_path(services.sessions, ROOT / "seeds")
        issue_id = compose(services.sessions, services.settings).issue_id
        add_readers(services.sessions, args.readers)
        services.publisher.queue(issue_id)
        if args.webhook_sent:
            create_endpoint(services.sessions, "https://hooks.example.com/in", "sent", allow_private=False)
        services.close()
        extra = {"record_every": args.record_every} if args.record_every else {}
        settings = load_settings(backend="smtp", smtp_host="127.0.0.1", smtp_port=port, smtp_tls="none",
                                 smtp_connections=1, worker_processes=1, **extra, **common)
        parts = SendingParts.build(settings)
        writes: list[int] = []
        record = parts.store.record

        def counted(worker: str, outcomes, domains=()):  # type: ignore[no-untyped-def]
            writes.append(len(outcomes))
            return record(worker, outcomes, domains)

        parts.store.record = counted  # type: ignore[method-assign]
        worker = Worker(parts.store, parts.backend, settings, parts.links)
        keep_freed_memory()  # as `newsletter worker` does
        profile = cProfile.Profile(time.thread_time)
        postgres, before, started = named_cpu_seconds("postgres"), resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
        if args.profile:
            profile.enable()
        sent = worker.run(until_idle=True)
        profile.disable()
        wall, after = time.perf_counter() - started, resource.getrusage(resource.RUSAGE_SELF)
        postgres = named_cpu_seconds("postgres") - postgres
        with parts.sessions() as session:
            queued_events = session.scalar(select(func.count()).select_from(WebhookMessage))
        parts.close()
    finally:
        sink.terminate()
    per = 1e6 / sent
    print(f"{sent} sent in {wall:.1f} s; per message: user {(after.ru_utime - before.ru_utime) * per:.0f} us, "
          f"system {(after.ru_stime - before.ru_stime) * per:.0f} us, postgres {postgres * per:.0f} us; "
          f"{len(writes)} outcome writes, median {statistics.median(writes):.0f} rows; "
          f"{queued_events} webhook messages queued")
    if args.profile:
        out = io.StringIO()
        pstats.Stats(profile, stream=out).sort_stats("cumulative").print_stats(40)
        print(out.getvalue())


if __name__ == "__main__":
    main()
