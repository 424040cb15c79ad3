"""`newsletter issues send` sends an issue once: a second send is refused and reaches nobody new."""

from __future__ import annotations

import json
from pathlib import Path

SEEDS = Path(__file__).resolve().parents[2] / "seeds"


def test_a_sent_issue_is_refused_and_a_reader_who_joined_since_gets_nothing(run):
    run("ingest", str(SEEDS))
    run("subscribers", "add", "ana@example.net")
    issue = json.loads(run("issues", "compose", "--json").stdout)["id"]
    assert json.loads(run("issues", "send", str(issue), "--json").stdout)["queued"] == 1
    assert json.loads(run("worker", "--until-idle", "--json").stdout)["handled"] == 1

    run("subscribers", "add", "bob@example.net")
    again = run("issues", "send", str(issue), "--json", ok=False)
    assert again.returncode == 1 and again.stdout == ""
    assert f"cannot send issue {issue}: it is sent" in again.stderr and "Traceback" not in again.stderr

    assert json.loads(run("worker", "--until-idle", "--json").stdout)["handled"] == 0
    bob = json.loads(run("subscribers", "show", "bob@example.net", "--json").stdout)
    assert bob["status"] == "active" and bob["delivery_history"] == []
    status = json.loads(run("issues", "status", str(issue), "--json").stdout)
    assert (status["status"], status["total"], status["sent"]) == ("sent", 1, 1)
