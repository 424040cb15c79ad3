"""Send benchmark: our worker against Postfix's smtp-sink, timed in the same run as smtp-source.

    .venv/bin/python bench/send.py --readers 20000

Prints one JSON object: the rendered message size, the per-reader personalise cost, our
messages per second through one worker and one SMTP connection, and smtp-source's rate with
one and with four sessions (-d: connections reused) into the same sink, with the ratios.
Needs Debian's postfix for smtp-sink and smtp-source (`apt-get install postfix`).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import insert  # noqa: E402

from newsletter.compose import compose  # noqa: E402
from newsletter.config import load_settings  # noqa: E402
from newsletter.dispatch import Worker  # noqa: E402
from newsletter.ingest import ingest_path  # noqa: E402
from newsletter.message import MessageTemplate, Reader, make_message_id  # noqa: E402
from newsletter.models import Subscriber, SubscriberStatus, utcnow  # noqa: E402
from newsletter.services import Services  # noqa: E402


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_sink(port: int) -> subprocess.Popen[bytes]:
    args = ["smtp-sink", "-u", "nobody", "-c", f"127.0.0.1:{port}", "1024"] if os.geteuid() == 0 else [
        "smtp-sink", "-c", f"127.0.0.1:{port}", "1024"]
    sink = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return sink
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("smtp-sink did not start")


def smtp_source_rate(port: int, count: int, size: int, sessions: int) -> float:
    started = time.perf_counter()
    subprocess.run(
        ["smtp-source", "-d", "-s", str(sessions), "-m", str(count), "-l", str(size),
         "-f", "bench@example.org", "-t", "reader@example.net", f"127.0.0.1:{port}"],
        check=True, stdout=subprocess.DEVNULL,
    )
    return count / (time.perf_counter() - started)


def personalise_cost(template: MessageTemplate, n: int = 20000) -> float:
    readers = [Reader(f"r{i}@example.net", f"Reader {i}", f"https://x.example/u/{i}", f"mailto:u@x.example?subject={i}")
               for i in range(n)]
    started = time.perf_counter()
    for i, reader in enumerate(readers):
        template.personalise(reader, make_message_id(1, i, "example.org"))
    return (time.perf_counter() - started) / n * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--readers", type=int, default=20000)
    parser.add_argument("--database-url", default="", help="default: a temporary SQLite file")
    parser.add_argument("--batch-size", type=int, default=500)
    args = parser.parse_args()
    if not shutil.which("smtp-sink"):
        sys.exit("smtp-sink not found: install Debian's postfix")

    work = Path(tempfile.mkdtemp(prefix="nl-bench-"))
    port = free_port()
    sink = start_sink(port)
    try:
        settings = load_settings(
            data_dir=work, database_url=args.database_url, backend="smtp", smtp_host="127.0.0.1",
            smtp_port=port, smtp_tls="none", batch_size=args.batch_size,
            from_address="The Weekly Briefing <briefing@example.org>", base_url="https://news.example.org",
        )
        services = Services.build(settings)
        ingest_path(services.sessions, ROOT / "seeds")
        issue_id = compose(services.sessions, settings).issue_id
        now = utcnow()
        with services.sessions.begin() as session:
            session.execute(insert(Subscriber), [
                {"email": f"reader{i}@example.net", "name": f"Reader {i}", "status": SubscriberStatus.ACTIVE,
                 "source": "bench", "attributes": {}, "created_at": now, "confirmations_sent": 0}
                for i in range(args.readers)
            ])
        template = MessageTemplate.compile(services.publisher.rendered(issue_id), settings)
        size = len(template.personalise(Reader("r@example.net", "R", "https://x/u", "mailto:u@x"), "<m@x>"))
        per_reader_us = personalise_cost(template)

        queue_started = time.perf_counter()
        services.publisher.queue(issue_id)
        queue_seconds = time.perf_counter() - queue_started
        worker = Worker(services.store, services.backend, settings, services.links)
        started = time.perf_counter()
        sent = worker.run(drain=True)
        ours = sent / (time.perf_counter() - started)
        counts = services.store.counts(issue_id)
        services.close()

        source_1 = smtp_source_rate(port, args.readers, size, 1)
        source_4 = smtp_source_rate(port, args.readers, size, 4)
    finally:
        sink.terminate()
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps({
        "readers": args.readers,
        "database": "sqlite" if not args.database_url else args.database_url.split(":")[0],
        "message_bytes": size,
        "personalise_us": round(per_reader_us, 1),
        "queue_seconds": round(queue_seconds, 3),
        "sent": counts["sent"],
        "ours_msgs_per_s": round(ours),
        "smtp_source_1_session_msgs_per_s": round(source_1),
        "smtp_source_4_sessions_msgs_per_s": round(source_4),
        "ratio_vs_1_session": round(ours / source_1, 2),
        "ratio_vs_4_sessions": round(ours / source_4, 2),
    }, indent=2))


if __name__ == "__main__":
    main()
