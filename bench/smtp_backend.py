"""SMTP backend benchmark: SMTPBackend alone into Postfix's smtp-sink, smtp-source as the yardstick.

    .venv/bin/python bench/smtp_backend.py --messages 20000 [--profile var/smtp-profile.txt]

Sends N pre-built messages of --size bytes (default 29,717: the rendered issue of bench/send.py)
through SMTPBackend in batches of 500, with PIPELINING off and on, over 1, 2 and 4 connections,
then times `smtp-source -d -s 1` and `-d -s 4` with the same count and size into the same sink.
All of that --repeat times, interleaved (a machine's load drifts); prints one JSON object with the
median msgs/s of each, and each of ours as a ratio of smtp-source's.
--profile runs the pipelined one-connection case once more under pyinstrument and writes the
text report (`pip install pyinstrument`). Needs Debian's postfix (smtp-sink, smtp-source).
"""

from __future__ import annotations

import argparse
import json
import statistics
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from postfix import free_port, smtp_source_rate, start_sink  # noqa: E402
from newsletter.mail.backends.base import OutgoingMessage, SendStatus  # noqa: E402
from newsletter.mail.backends.smtp import SMTPBackend  # noqa: E402
from newsletter.config import load_settings  # noqa: E402

SENDER = "bounces@example.org"
VARIANTS = 64  # distinct message bodies, cycled: 20,000 distinct 30 KB messages would be 600 MB


def build_messages(count: int, size: int) -> list[OutgoingMessage]:
    """``count`` messages to distinct readers; bodies are quoted-printable-like 76-column text."""
    bodies = []
    for variant in range(VARIANTS):
        head = (
            "From: The Weekly Briefing <briefing@example.org>\r\n"
            f"To: <reader{variant}@example.net>\r\n"
            "Subject: The Weekly Briefing, issue 48\r\n"
            "Date: Sat, 28 Nov 2026 07:00:00 +0000\r\n"
            f"Message-ID: <issue-48.{variant}@example.org>\r\n"
            "MIME-Version: 1.0\r\n"
            "Content-Type: text/plain; charset=utf-8\r\n"
            "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
        ).encode()
        line = (f"Reader {variant}: the week in review, with links and summaries of every article =\r\n").encode()
        body = (line * (size // len(line) + 1))[: size - len(head) - 2]
        bodies.append(head + body + b"\r\n")
    return [
        OutgoingMessage(SENDER, f"reader{n}@example.net", bodies[n % VARIANTS], f"<issue-48.{n}@example.org>", n)
        for n in range(count)
    ]


def backend_rate(port: int, messages: list[OutgoingMessage], *, pipelining: bool, connections: int,
                 batch: int, work: Path) -> float:  # fmt: skip
    """Messages per second through one SMTPBackend, connecting included, as the worker calls it."""
    settings = load_settings(
        data_dir=work, secret_key="x", admin_password="y", backend="smtp", smtp_host="127.0.0.1",
        smtp_port=port, smtp_tls="none", smtp_pipelining=pipelining, smtp_connections=connections,
    )  # fmt: skip
    backend = SMTPBackend(settings)
    started = time.perf_counter()
    for start in range(0, len(messages), batch):
        results = backend.send(messages[start : start + batch])
        refused = [r for r in results if r.status is not SendStatus.SENT]
        if refused:
            raise RuntimeError(f"the sink refused {len(refused)} messages: {refused[0]}")
    elapsed = time.perf_counter() - started
    backend.close()
    return len(messages) / elapsed


def profile(port: int, messages: list[OutgoingMessage], batch: int, work: Path, out: Path) -> None:
    from pyinstrument import Profiler  # only for --profile

    profiler = Profiler(interval=0.0005)
    with profiler:  # one connection: send() runs in this thread, which pyinstrument samples
        backend_rate(port, messages, pipelining=True, connections=1, batch=batch, work=work)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(profiler.output_text(unicode=True, show_all=False))


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--messages", type=int, default=20000)
    parser.add_argument("--size", type=int, default=29717, help="bytes per message")
    parser.add_argument("--batch", type=int, default=500, help="messages per send() call (the worker's batch)")
    parser.add_argument("--connections", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--repeat", type=int, default=3, help="rounds of every measurement; medians are printed")
    parser.add_argument("--profile", type=Path, help="write a pyinstrument report of the pipelined path here")
    args = parser.parse_args()
    if not shutil.which("smtp-sink") or not shutil.which("smtp-source"):
        sys.exit("smtp-sink/smtp-source not found: install Debian's postfix")

    messages = build_messages(args.messages, args.size)
    work = Path(tempfile.mkdtemp(prefix="nl-smtp-bench-"))
    port = free_port()
    sink = start_sink(port)
    rounds: dict[str, list[float]] = {}
    try:
        for _ in range(args.repeat):
            for pipelining in (False, True):
                for connections in args.connections:
                    name = f"{'pipelined' if pipelining else 'plain'}_{connections}_conn"
                    rate = backend_rate(port, messages, pipelining=pipelining, connections=connections,
                                        batch=args.batch, work=work)  # fmt: skip
                    rounds.setdefault(name, []).append(rate)
            for sessions in (1, 4):
                rate = smtp_source_rate(port, args.messages, args.size, sessions)
                rounds.setdefault(f"smtp_source_{sessions}", []).append(rate)
        if args.profile:
            profile(port, messages, args.batch, work, args.profile)
    finally:
        sink.terminate()
        sink.wait()
        shutil.rmtree(work, ignore_errors=True)
    median = {name: statistics.median(rates) for name, rates in rounds.items()}
    source_1, source_4 = median.pop("smtp_source_1"), median.pop("smtp_source_4")
    ours = median
    print(json.dumps({
        "messages": args.messages,
        "message_bytes": len(messages[0].data),
        "batch": args.batch,
        "repeat": args.repeat,
        "ours_msgs_per_s": {name: round(rate) for name, rate in ours.items()},
        "smtp_source_1_session_msgs_per_s": round(source_1),
        "smtp_source_4_sessions_msgs_per_s": round(source_4),
        "ratio_vs_1_session": {name: round(rate / source_1, 2) for name, rate in ours.items()},
        "ratio_vs_4_sessions": {name: round(rate / source_4, 2) for name, rate in ours.items()},
    }, indent=2))  # fmt: skip


if __name__ == "__main__":
    main()
