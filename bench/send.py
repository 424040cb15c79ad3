"""Send benchmark: our workers against Postfix's smtp-sink, timed in the same run as smtp-source.

    .venv/bin/python bench/send.py --readers 100000 [--processes P --connections C]

Builds the seed issue for N readers in a fresh PostgreSQL database (or SQLite with
--database-url sqlite:///...), queues it, and runs `newsletter worker --processes P
--connections C --until-idle` into smtp-sink; then `smtp-source -d -s 1` and `-d -s 4` send the
same number of messages of the same size into the same sink. Without --processes/--connections
the command runs with the defaults a user gets (delivery/sizing.py picks them). Prints one JSON
object: message size, per-reader personalise cost, enqueue time, our rate (wall time of the worker
command, start-up included), the send rate per tenth of the send (by sent_at), `issues status`
latency sampled every 0.5 s during the send, smtp-source's rates and the ratios, and the workers'
peak resident memory.
Needs Debian's postfix for smtp-sink and smtp-source (`apt-get install postfix`).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from sqlalchemy import func, select, text  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from databases import add_readers, fresh_postgres  # noqa: E402
from cpu import named_cpu_seconds, process_cpu_seconds  # noqa: E402
from postfix import free_port, smtp_source_rate, start_sink  # noqa: E402
from newsletter.issues.compose import compose  # noqa: E402
from newsletter.config import load_settings  # noqa: E402
from newsletter.mail.dkim_sign import DkimSigner  # noqa: E402
from newsletter.content.ingest import ingest_path  # noqa: E402
from newsletter.mail.message import MessageTemplate, Reader, make_message_id  # noqa: E402
from newsletter.db.base import utcnow
from newsletter.delivery.models import Delivery
from newsletter.services import Services  # noqa: E402


def personalise_cost(template: MessageTemplate, n: int = 20000) -> float:
    readers = [Reader(f"r{i}@example.net", f"Reader {i}", f"https://x.example/u/{i}", f"mailto:u@x.example?subject={i}")
               for i in range(n)]
    started = time.perf_counter()
    for i, reader in enumerate(readers):
        template.personalise(reader, make_message_id(1, i, "example.org"))
    return (time.perf_counter() - started) / n * 1e6


def rss_kib(pid: int) -> int:
    """The largest resident memory among a process and its children (each worker), from /proc."""
    try:
        pids = [pid, *map(int, Path(f"/proc/{pid}/task/{pid}/children").read_text().split())]
    except OSError:
        return 0
    largest = 0
    for one in pids:
        try:
            status = Path(f"/proc/{one}/status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                largest = max(largest, int(line.split()[1]))
    return largest


def machine_busy_seconds() -> float:
    """CPU seconds spent by the whole machine so far (all cores, user + system), from /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def children_system_seconds() -> float:
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_stime


def run_workers(settings_env: dict[str, str], processes: int | None, connections: int | None,
                status: Callable[[], object], sink_pid: int,
                profile: str = "") -> tuple[float, float, list[float], dict[str, float], str]:
    """Run the worker command until idle; returns (seconds, peak RSS of one worker process in MiB,
    the status call's latencies in ms sampled every 0.5 s meanwhile, the command's start-up line,
    CPU seconds of the workers and of the whole machine meanwhile)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSLETTER_")} | settings_env
    command = [str(Path(sys.executable).parent / "newsletter"), "worker", "--until-idle", "--json"]
    if processes:
        command += ["--processes", str(processes)]
    if connections:
        command += ["--connections", str(connections)]
    if profile:  # py-spy samples the threads holding the GIL (Python's own work), children included
        command = [str(Path(sys.executable).parent / "py-spy"), "record", "--subprocesses", "--gil", "--rate", "200",
                   "--format", "raw", "--output", profile, "--", *command]
    cpu_before, machine_before = children_cpu_seconds(), machine_busy_seconds()
    system_before = children_system_seconds()
    postgres_before, sink_before = named_cpu_seconds("postgres"), process_cpu_seconds(sink_pid)
    started = time.perf_counter()
    proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    latencies: list[float] = []
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.5):
            began = time.perf_counter()
            status()
            latencies.append((time.perf_counter() - began) * 1000)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    peak = 0
    while proc.poll() is None:
        peak = max(peak, rss_kib(proc.pid))
        time.sleep(0.2)
    seconds = time.perf_counter() - started
    cpu = {"workers": round(children_cpu_seconds() - cpu_before, 1),
           "workers_in_kernel": round(children_system_seconds() - system_before, 1),
           "postgres": round(named_cpu_seconds("postgres") - postgres_before, 1),
           "smtp_sink": round(process_cpu_seconds(sink_pid) - sink_before, 1),
           "machine": round(machine_busy_seconds() - machine_before, 1), "available": round(seconds * os.cpu_count(), 1)}
    done.set()
    sampler.join()
    assert proc.stderr is not None
    errors = proc.stderr.read()
    if proc.returncode:
        raise RuntimeError(f"worker exited with {proc.returncode}: {errors[-2000:]}")
    return seconds, peak / 1024, latencies, cpu, next(
        (line for line in errors.splitlines() if line.startswith("worker:")), "")


def tenths(session: Session, issue_id: int) -> list[int]:
    """Messages per second in each tenth of the send, in the order they were sent (by sent_at)."""
    rows = session.execute(text(
        "SELECT tenth, count(*), min(sent_at), max(sent_at) FROM (SELECT sent_at, ntile(10) OVER (ORDER BY sent_at)"
        " AS tenth FROM delivery WHERE issue_id = :issue AND sent_at IS NOT NULL) t GROUP BY tenth ORDER BY tenth"
    ), {"issue": issue_id}).all()
    rates, previous = [], None
    for _, count, first, last in rows:
        start = previous or first  # a tenth runs from the end of the one before it
        rates.append(round(count / max((last - start).total_seconds(), 1e-3)))
        previous = last
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--readers", type=int, default=100_000)
    parser.add_argument("--database-url", default="", help="default: a fresh PostgreSQL database nl_bench_send")
    parser.add_argument("--processes", type=int, default=None, help="default: what the worker picks")
    parser.add_argument("--connections", type=int, default=None, help="default: what the worker picks")
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--record-every", type=int, default=None, help="NEWSLETTER_RECORD_EVERY (default: the setting's)")
    parser.add_argument("--skip-source", action="store_true", help="no smtp-source runs (a 1M send: time)")
    parser.add_argument("--profile", default="", help="write py-spy collapsed stacks of the workers here")
    parser.add_argument("--dkim-keys", default="", help="sign: selector=/path/key[,selector2=/path/key2] (d=example.org)")
    args = parser.parse_args()
    if not shutil.which("smtp-sink"):
        sys.exit("smtp-sink not found: install Debian's postfix")

    work = Path(tempfile.mkdtemp(prefix="nl-bench-"))
    url = args.database_url or fresh_postgres("nl_bench_send")
    port = free_port()
    sink = start_sink(port)
    env = {
        "NEWSLETTER_DATA_DIR": str(work), "NEWSLETTER_DATABASE_URL": url, "NEWSLETTER_BACKEND": "smtp",
        "NEWSLETTER_SMTP_HOST": "127.0.0.1", "NEWSLETTER_SMTP_PORT": str(port), "NEWSLETTER_SMTP_TLS": "none",
        "NEWSLETTER_BATCH_SIZE": str(args.batch_size), "NEWSLETTER_SECRET_KEY": "bench",
        "NEWSLETTER_ADMIN_PASSWORD": "bench", "NEWSLETTER_FROM_ADDRESS": "The Weekly Briefing <briefing@example.org>",
        "NEWSLETTER_BASE_URL": "https://news.example.org",
    }
    if args.record_every:
        env["NEWSLETTER_RECORD_EVERY"] = str(args.record_every)
    if args.dkim_keys:
        env |= {"NEWSLETTER_DKIM_DOMAIN": "example.org", "NEWSLETTER_DKIM_KEYS": args.dkim_keys}
    try:
        settings = load_settings(
            data_dir=work, database_url=url, backend="memory", secret_key="bench", admin_password="bench",
            from_address=env["NEWSLETTER_FROM_ADDRESS"], base_url=env["NEWSLETTER_BASE_URL"],
            dkim_domain="example.org", dkim_keys=args.dkim_keys,
        )
        services = Services.build(settings)
        ingest_path(services.sessions, ROOT / "seeds")
        issue_id = compose(services.sessions, settings).issue_id
        insert_started = time.perf_counter()
        add_readers(services.sessions, args.readers)
        insert_seconds = time.perf_counter() - insert_started
        template = MessageTemplate.compile(services.publisher.rendered(issue_id), settings,
                                           signer=DkimSigner.from_settings(settings))
        size = len(template.personalise(Reader("r@example.net", "R", "https://x/u", "mailto:u@x"), "<m@x>"))
        per_reader_us = personalise_cost(template)

        queue_started = time.perf_counter()
        services.publisher.queue(issue_id)
        queue_seconds = time.perf_counter() - queue_started
        command_started = utcnow()
        seconds, peak_mib, latencies, cpu, started_as = run_workers(
            env, args.processes, args.connections, lambda: services.publisher.progress(issue_id), sink.pid,
            args.profile)
        counts = services.store.counts(issue_id)
        with services.sessions() as session:
            first, last = session.execute(
                select(func.min(Delivery.sent_at), func.max(Delivery.sent_at)).where(Delivery.issue_id == issue_id)
            ).one()
            per_tenth = tenths(session, issue_id)
        services.close()
        ours = counts["sent"] / seconds
        steady = counts["sent"] / max((last - first).total_seconds(), 1e-3)
        # The first claim's time after the command started (start-up), and the command's end after
        # the last claim (the last batches' sending, the end noticed, exit): same machine clock.
        until_first = (first - command_started).total_seconds()
        after_last = seconds - until_first - (last - first).total_seconds()

        source_1 = 0.0 if args.skip_source else smtp_source_rate(port, args.readers, size, 1)
        sink_before, machine_before = process_cpu_seconds(sink.pid), machine_busy_seconds()
        source_before, source_system = children_cpu_seconds(), children_system_seconds()
        source_4 = 0.0 if args.skip_source else smtp_source_rate(port, args.readers, size, 4)
        source_cpu = {"smtp_source": round(children_cpu_seconds() - source_before, 1),
                      "smtp_source_in_kernel": round(children_system_seconds() - source_system, 1),
                      "smtp_sink": round(process_cpu_seconds(sink.pid) - sink_before, 1),
                      "machine": round(machine_busy_seconds() - machine_before, 1)}
    finally:
        sink.terminate()
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps({
        "readers": args.readers,
        "database": url.split(":")[0],
        "worker": started_as,
        "readers_insert_seconds": round(insert_seconds, 1),
        "dkim_keys": args.dkim_keys,
        "record_every": args.record_every or "default",
        "message_bytes": size,
        "personalise_us": round(per_reader_us, 1),
        "queue_seconds": round(queue_seconds, 3),
        "sent": counts["sent"],
        "worker_seconds": round(seconds, 2),
        "ours_msgs_per_s": round(ours),
        "ours_first_to_last_sent_msgs_per_s": round(steady),
        "seconds_to_first_claim": round(until_first, 2),
        "seconds_after_last_claim": round(after_last, 2),
        "smtp_source_1_session_msgs_per_s": round(source_1),
        "smtp_source_4_sessions_msgs_per_s": round(source_4),
        "ratio_vs_1_session": round(ours / source_1, 2) if source_1 else None,
        "ratio_vs_4_sessions": round(ours / source_4, 2) if source_4 else None,
        "ratio_first_to_last_vs_4_sessions": round(steady / source_4, 2) if source_4 else None,
        "msgs_per_s_per_tenth": per_tenth,
        "status_ms": {"samples": len(latencies), "median": round(statistics.median(latencies), 1) if latencies else None,
                      "max": round(max(latencies), 1) if latencies else None},
        "worker_peak_rss_mib": round(peak_mib, 1),
        "cpu_seconds_during_send": cpu,
        "cpu_seconds_during_smtp_source_4": None if args.skip_source else source_cpu,
    }, indent=2))


if __name__ == "__main__":
    main()
