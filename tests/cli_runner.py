"""The real `newsletter` command run as a subprocess, as operators and cron jobs run it."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

NEWSLETTER = str(Path(sys.executable).parent / "newsletter")
Run = Callable[..., subprocess.CompletedProcess[str]]


def make_run(tmp_path: Path, database_url: str | None = None) -> Run:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSLETTER_")}
    env.update(
        NEWSLETTER_DATA_DIR=str(tmp_path / "var"),
        NEWSLETTER_BASE_URL="https://news.example.org",
        NEWSLETTER_FROM_ADDRESS="The Briefing <briefing@example.org>",
        NEWSLETTER_BACKEND="outbox",
    )
    if database_url:
        env["NEWSLETTER_DATABASE_URL"] = database_url

    def run(*args: str, ok: bool = True, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        done = subprocess.run([NEWSLETTER, *args], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60,
                              input=stdin)
        if ok:
            assert done.returncode == 0, done.stderr
        return done

    return run
