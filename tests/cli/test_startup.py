"""`newsletter --help` and the command tree load without the web app, SQLAlchemy or MJML: each
command imports what it needs when it runs (bench/startup.py measures the time it saves)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("sqlalchemy", "alembic", "fastapi", "starlette", "uvicorn", "mjml", "aiosmtpd", "pydantic_settings", "rich")

PROBE = """
import json, sys
sys.argv = ["newsletter", *sys.argv[1:]]
from newsletter.cli.main import main
try:
    main()
except SystemExit as exc:
    code = exc.code
else:
    code = 0
loaded = sorted({name.partition(".")[0] for name in sys.modules})
print(json.dumps({"code": code, "loaded": loaded}), file=sys.stderr)
"""


@pytest.mark.parametrize("args", [["--help"], ["issues", "--help"], ["subscribers", "export", "--help"], ["run", "--help"]])
def test_help_imports_nothing_heavy(args: list[str]) -> None:
    done = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True, timeout=60)
    report = json.loads(done.stderr.strip().splitlines()[-1])
    assert report["code"] == 0, done.stderr
    assert "Usage:" in done.stdout
    assert not set(HEAVY) & set(report["loaded"]), f"`newsletter {' '.join(args)}` imported {set(HEAVY) & set(report['loaded'])}"


def test_the_cli_defaults_spelt_out_for_speed_match_the_domain_modules() -> None:
    from newsletter.cli import inbound, sources
    from newsletter.content.sources.feeds import DEFAULT_TIMEOUT
    from newsletter.content.sources.registry import DEFAULT_INTERVAL_MINUTES
    from newsletter.inbound import smtp_server

    assert (inbound.DEFAULT_HOST, inbound.DEFAULT_PORT) == (smtp_server.DEFAULT_HOST, smtp_server.DEFAULT_PORT)
    assert (sources.DEFAULT_INTERVAL_MINUTES, sources.DEFAULT_TIMEOUT) == (DEFAULT_INTERVAL_MINUTES, DEFAULT_TIMEOUT)
