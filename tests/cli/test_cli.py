"""The `newsletter` command as an operator or a cron job runs it: a real process, real files."""

from __future__ import annotations

import email
import email.policy
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SEEDS = Path(__file__).resolve().parents[2] / "seeds"
NEWSLETTER = str(Path(sys.executable).parent / "newsletter")


def outbox(tmp_path: Path) -> list[email.message.EmailMessage]:
    files = sorted((tmp_path / "var" / "outbox").glob("*.eml"))
    return [email.message_from_bytes(f.read_bytes(), policy=email.policy.default) for f in files]


def test_from_seeds_to_a_delivered_issue(run, tmp_path):
    ingested = json.loads(run("ingest", str(SEEDS), "--json").stdout)
    assert ingested["added"] == ["Is the Kursk operation still worth the cost?"] and ingested["errors"] == []
    assert json.loads(run("ingest", str(SEEDS), "--json").stdout)["unchanged"] == ingested["added"]

    assert json.loads(run("db", "upgrade", "--json").stdout)["upgraded"] is True
    run("subscribers", "add", "ana@example.net", "--name", "Ana")
    csv = tmp_path / "readers.csv"
    csv.write_text("email,name\nbob@example.net,Bob\nnot-an-address,X\nana@example.net,Ana\n")
    imported = json.loads(run("subscribers", "import", str(csv), "--confirmed", "--json").stdout)
    assert (imported["added"], imported["existing"], [r["line"] for r in imported["rejected"]]) == (1, 1, [3])

    issue = json.loads(run("issues", "compose", "--json").stdout)
    assert issue["created"] and issue["articles"] == 1
    run("issues", "preview", str(issue["id"]), "--out", str(tmp_path / "p.html"))
    run("issues", "preview", str(issue["id"]), "--out", str(tmp_path / "p.txt"), "--text")
    assert "Kursk" in (tmp_path / "p.html").read_text() and "<" not in (tmp_path / "p.txt").read_text()[:200]

    run("issues", "send", str(issue["id"]), "--test-to", "editor@example.net")
    assert [m["To"] for m in outbox(tmp_path)] == ["editor@example.net"]
    assert outbox(tmp_path)[0]["Subject"].startswith("[Test] ")

    assert json.loads(run("issues", "send", str(issue["id"]), "--json").stdout)["queued"] == 2
    assert json.loads(run("worker", "--until-idle", "--json").stdout)["handled"] == 2
    again = run("issues", "send", str(issue["id"]), "--json", ok=False)  # an issue is sent once
    assert again.returncode == 1 and f"cannot send issue {issue['id']}: it is sent" in again.stderr
    status = json.loads(run("issues", "status", str(issue["id"]), "--json").stdout)
    assert status["sent"] == 2 and status["queued"] == 0
    recipients = sorted(str(m["To"]) for m in outbox(tmp_path))
    assert recipients == ["Ana <ana@example.net>", "Bob <bob@example.net>", "editor@example.net"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("subscribers", "add", "not an address"), "error: "),
        (("ingest", "/no/such/path"), "/no/such/path"),
        (("issues", "compose", "--week", "2026-W99"), "2026-W99"),
        (("issues", "preview", "42", "--out", "x.html"), "no issue 42"),
    ],
)
def test_bad_input_gets_one_clear_line_and_exit_1(run, args, message):
    done = run(*args, ok=False)
    assert done.returncode == 1
    assert message in done.stderr and "Traceback" not in done.stderr


def test_a_dead_database_is_a_clear_error(run, tmp_path):
    done = subprocess.run(
        [NEWSLETTER, "issues", "list"],
        env={**os.environ, "NEWSLETTER_DATA_DIR": str(tmp_path),
             "NEWSLETTER_DATABASE_URL": "postgresql://postgres@127.0.0.1:1/none"},
        capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 1
    assert "cannot open the database" in done.stderr and "Traceback" not in done.stderr


def test_import_without_confirmed_asks_each_new_reader_to_confirm(run, tmp_path):
    csv = tmp_path / "readers.csv"
    csv.write_text("email,name\nana@example.net,Ana\nbob@example.net,Bob\n")
    imported = json.loads(run("subscribers", "import", str(csv), "--json").stdout)
    assert imported["added"] == 2 and imported["confirmations_sent"] == 2
    mails = outbox(tmp_path)
    assert sorted(m["To"].addresses[0].addr_spec for m in mails) == ["ana@example.net", "bob@example.net"]
    assert all("/confirm/" in m.get_body(("plain",)).get_content() for m in mails)


def test_pause_resume_cancel_from_the_command_line(run, tmp_path):
    run("ingest", str(SEEDS))
    for i in range(3):
        run("subscribers", "add", f"r{i}@example.net")
    issue = json.loads(run("issues", "compose", "--json").stdout)["id"]
    run("issues", "send", str(issue))
    assert json.loads(run("issues", "pause", str(issue), "--json").stdout)["status"] == "paused"
    assert json.loads(run("worker", "--until-idle", "--json").stdout)["handled"] == 0  # paused: nothing claimed
    status = json.loads(run("issues", "status", str(issue), "--json").stdout)
    assert (status["status"], status["queued"], status["sent"]) == ("paused", 3, 0)
    run("issues", "resume", str(issue))
    assert json.loads(run("worker", "--until-idle", "--json").stdout)["handled"] == 3
    done = run("issues", "cancel", str(issue), ok=False)
    assert done.returncode == 1 and "cannot cancel issue" in done.stderr and "it is sent" in done.stderr
