"""What the template cage costs: one issue rendered in process (the shipped layout) and the same
layout given as an editor's template (checked and rendered in a child process with limits).

    .venv/bin/python bench/cage.py [--runs 15] [--articles 1]

The seed article is repeated --articles times. Prints JSON: the median wall time of each, in ms.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from newsletter.config import load_settings  # noqa: E402
from newsletter.content.ingest import ingest_path  # noqa: E402
from newsletter.content.models import Article  # noqa: E402
from newsletter.issues.models import Issue, IssueArticle  # noqa: E402
from newsletter.render.issue import render_issue  # noqa: E402
from newsletter.services import Services  # noqa: E402


def median_ms(runs: int, render: object) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        render()  # type: ignore[operator]
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--articles", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(data_dir=Path(tmp), secret_key="bench", admin_password="bench")
        services = Services.build(settings)
        ingest_path(services.sessions, ROOT / "seeds")
        with services.sessions() as session:
            article = session.query(Article).first()
            assert article is not None, "seeds/ holds no article"
            session.expunge(article)
        services.close()
    issue = Issue(number=1, subject="Bench", preheader="",
                  items=[IssueArticle(position=i, article=article) for i in range(args.articles)])
    shipped = (settings.templates_dir / "email" / "issue.mjml.j2").read_text()
    render_issue(issue, settings)  # warm: templates compiled, mjml loaded
    in_process = median_ms(args.runs, lambda: render_issue(issue, settings))
    caged = median_ms(args.runs, lambda: render_issue(issue, settings, template_source=shipped))
    print(json.dumps({"articles": args.articles, "runs": args.runs, "in_process_ms": round(in_process, 1),
                      "caged_ms": round(caged, 1)}))


if __name__ == "__main__":
    main()
