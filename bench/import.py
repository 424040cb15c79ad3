"""CSV import benchmark: a generated Mailchimp audience export, previewed (dry run) and imported.

    .venv/bin/python bench/import.py --rows 100000

Writes N rows in Mailchimp's layout (1% invalid addresses, 1% duplicates), then on SQLite (a new
file) and on PostgreSQL (a fresh schema in --postgres, dropped afterwards) times: the preview (the
full dry run) and the import with --confirmed. Prints one JSON object with the seconds, rows per
second, the counts, and this process's peak memory.
"""

from __future__ import annotations

import argparse
import csv
import json
import resource
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import text  # noqa: E402

from newsletter.config import load_settings  # noqa: E402
from newsletter.db.engine import make_engine  # noqa: E402
from newsletter.readers.importer import import_csv, import_preview  # noqa: E402
from newsletter.services import Services  # noqa: E402

POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"
HEADER = ("Email Address,First Name,Last Name,MEMBER_RATING,OPTIN_TIME,OPTIN_IP,CONFIRM_TIME,CONFIRM_IP,LATITUDE,"
          "LONGITUDE,GMTOFF,DSTOFF,TIMEZONE,CC,REGION,LAST_CHANGED,LEID,EUID,NOTES,TAGS").split(",")
DOMAINS = ("example.org", "example.net", "example.com", "mail.example.org", "post.example.de")


def write_mailchimp(path: Path, rows: int) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle)
        out.writerow(HEADER)
        for i in range(rows):
            if i % 100 == 7:
                email = f"broken{i}.example.org"  # no @-sign
            elif i % 100 == 9:
                email = f"reader{i - 1}@{DOMAINS[(i - 1) % len(DOMAINS)]}"  # a duplicate
            else:
                email = f"reader{i}@{DOMAINS[i % len(DOMAINS)]}"
            out.writerow([email, f"First{i}", f"Last{i}", 3, "2023-02-11 09:14:02", "", "2023-02-11 09:15:40", "",
                          "", "", "", "", "", "GB", "", "2024-06-02 11:00:12", 100000 + i, f"{i:010x}", "",
                          '"Readers"'])


def run(url: str, data_dir: Path, path: Path) -> dict[str, object]:
    settings = load_settings(data_dir=data_dir, database_url=url, backend="memory", secret_key="bench")
    services = Services.build(settings)
    try:
        start = time.perf_counter()
        preview = import_preview(services.sessions, path, services.suppression)
        preview_s = time.perf_counter() - start
        start = time.perf_counter()
        report = import_csv(services.sessions, path, confirmed=True, suppression=services.suppression)
        import_s = time.perf_counter() - start
    finally:
        services.close()
    rows = report.rows
    return {
        "preview_seconds": round(preview_s, 2), "import_seconds": round(import_s, 2),
        "import_rows_per_second": round(rows / import_s), "rows": rows, "would_add": preview.report.added,
        "added": report.added, "invalid": report.invalid, "duplicates": report.duplicates,
        "stopped": report.stopped,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--postgres", default=POSTGRES, help="a server URL; '' skips PostgreSQL")
    args = parser.parse_args()
    results: dict[str, object] = {"rows": args.rows}
    with tempfile.TemporaryDirectory(prefix="nl-bench-import-") as tmp:
        path = Path(tmp) / "mailchimp.csv"
        start = time.perf_counter()
        write_mailchimp(path, args.rows)
        results["generate_seconds"] = round(time.perf_counter() - start, 2)
        results["file_mb"] = round(path.stat().st_size / 1e6, 1)
        results["sqlite"] = run(f"sqlite:///{tmp}/bench.db", Path(tmp) / "var", path)
        if args.postgres:
            schema = f"bench_import_{uuid.uuid4().hex[:8]}"
            admin = make_engine(args.postgres)
            with admin.begin() as conn:
                conn.execute(text(f'CREATE SCHEMA "{schema}"'))
            sep = "&" if "?" in args.postgres else "?"
            try:
                results["postgresql"] = run(f"{args.postgres}{sep}options=-csearch_path%3D{schema}",
                                            Path(tmp) / "var-pg", path)
            finally:
                with admin.begin() as conn:
                    conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
                admin.dispose()
    results["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
