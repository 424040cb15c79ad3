"""Per-reader cost of building a message, with and without open/click tracking.

    .venv/bin/python bench/personalise.py [--readers 20000]

The seed issue is rendered once (SQLite in a temp dir) and compiled into a MessageTemplate;
then each reader's message is built as the worker does: unsubscribe links signed, a signed Message-ID,
and for the tracked template the reader's tracking token. Prints JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from newsletter.issues.compose import compose  # noqa: E402
from newsletter.config import load_settings  # noqa: E402
from newsletter.content.ingest import ingest_path  # noqa: E402
from newsletter.mail.message import MessageTemplate, Reader, make_message_id  # noqa: E402
from newsletter.render.issue import RenderedIssue  # noqa: E402
from newsletter.services import Services  # noqa: E402
from newsletter.issues.tracking import TrackingTokens, tracked_html  # noqa: E402


def per_reader_us(services: Services, template: MessageTemplate, tokens: TrackingTokens | None, n: int) -> float:
    started = time.perf_counter()
    for i in range(n):
        url, mailto = services.links.unsubscribe_both(i)
        token = tokens.reader_token(1, i) if tokens is not None else ""
        reader = Reader(f"r{i}@example.net", f"Reader {i}", url, mailto, tracking_token=token)
        # Signed with the delivery's token, as the worker does since issue 12 (reports need proof).
        message_id = make_message_id(1, i, "example.org", secret_key=services.settings.secret_key, delivery_id=i)
        template.personalise(reader, message_id)
    return (time.perf_counter() - started) / n * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--readers", type=int, default=20000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(data_dir=Path(tmp), database_url=f"sqlite:///{tmp}/bench.db", backend="memory",
                                 from_address="The Briefing <briefing@example.org>", base_url="https://news.example.org")
        services = Services.build(settings)
        ingest_path(services.sessions, ROOT / "seeds")
        issue_id = compose(services.sessions, settings).issue_id
        rendered = services.publisher.rendered(issue_id)
        tokens = TrackingTokens(settings.secret_key)
        tracked = RenderedIssue(rendered.subject, rendered.preheader,
                                tracked_html(rendered.html, settings.base_url, tokens.issue_token(issue_id)),
                                rendered.text)
        plain_template = MessageTemplate.compile(rendered, settings)
        tracked_template = MessageTemplate.compile(tracked, settings)
        per_reader_us(services, plain_template, None, 1000)  # warm up
        result = {
            "readers": args.readers,
            "untracked_us": round(per_reader_us(services, plain_template, None, args.readers), 1),
            "tracked_us": round(per_reader_us(services, tracked_template, tokens, args.readers), 1),
            "message_bytes": len(plain_template.personalise(Reader("r@example.net", "R", "https://x/u", "mailto:u@x"),
                                                            "<m@x>")),
        }
        services.close()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
