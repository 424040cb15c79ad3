"""`newsletter issues ab` / `ab-decide`: set a test on a draft, send its share, decide, and the
"ab" object of `issues status|figures --json`."""

from __future__ import annotations

import json
from pathlib import Path

from newsletter.issues.list_profile import save_profile
from newsletter.services import Services
from tests.cli_runner import make_run
from tests.factories import add_article, add_subscribers


def test_set_send_decide_and_report_an_ab_test(services: Services, tmp_path: Path) -> None:
    run = make_run(tmp_path, services.settings.database)
    add_article(services.sessions, "Rivers")
    add_subscribers(services.sessions, 20)
    issue = json.loads(run("issues", "compose", "--json").stdout)["id"]

    off = run("issues", "ab", str(issue), "--subject", "B", ok=False)
    assert off.returncode == 1 and "tracking is off" in off.stderr and "Traceback" not in off.stderr
    save_profile(services.sessions, services.settings, tracking_enabled=True)
    bad = run("issues", "ab", str(issue), "--subject", "B", "--fraction", "1.5", ok=False)
    assert bad.returncode == 1 and "between 0 and 1" in bad.stderr
    assert json.loads(run("issues", "ab", str(issue), "--json").stdout) == {"id": issue, "ab": None}

    made = json.loads(run("issues", "ab", str(issue), "--subject", "Second", "--subject", "Third",
                          "--fraction", "0.3", "--metric", "clicks", "--wait-hours", "2", "--json").stdout)["ab"]
    assert (made["state"], made["fraction"], made["metric"], made["wait_hours"]) == ("ready", 0.3, "clicks", 2.0)
    assert [v["subject"] for v in made["variants"]][1:] == ["Second", "Third"]
    assert "A/B test of issue" in run("issues", "ab", str(issue)).stdout

    assert json.loads(run("issues", "send", str(issue), "--json").stdout)["queued"] == 6
    status = json.loads(run("issues", "status", str(issue), "--json").stdout)
    assert status["total"] == 6 and status["ab"]["state"] == "testing" and status["ab"]["decide_at"]
    assert [v["queued"] for v in status["ab"]["variants"]] == [2, 2, 2]

    decided = json.loads(run("issues", "ab-decide", str(issue), "--json").stdout)
    assert (decided["letter"], decided["queued"]) == ("A", 14)
    again = run("issues", "ab-decide", str(issue), ok=False)
    assert again.returncode == 1 and "it is decided (A won)" in again.stderr
    figures = json.loads(run("issues", "figures", str(issue), "--json").stdout)
    assert figures["recipients"] == 20 and figures["ab"]["winner"] == 0 and figures["ab"]["state"] == "decided"
    refused = run("issues", "ab", str(issue), "--off", ok=False)
    assert refused.returncode == 1 and "it is sending" in refused.stderr
