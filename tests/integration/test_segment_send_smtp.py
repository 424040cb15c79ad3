"""Two lists with different readers and a tag segment on one: `issues send ID --segment S` reaches
exactly that segment's active readers of that list, through the real commands and a real SMTP
server on loopback."""

from __future__ import annotations

import email
import email.policy
import json
import shutil
from pathlib import Path

from tests.cli_runner import make_run
from tests.smtp_server import SMTPTestServer

SEEDS = Path(__file__).resolve().parents[2] / "seeds"


def test_a_tag_segment_of_one_list_reaches_exactly_its_active_readers_through_smtp(
    tmp_path: Path, database_url: str, smtp_server: SMTPTestServer
) -> None:
    run = make_run(tmp_path, database_url, extra={
        "NEWSLETTER_BACKEND": "smtp", "NEWSLETTER_SMTP_HOST": smtp_server.host,
        "NEWSLETTER_SMTP_PORT": str(smtp_server.port), "NEWSLETTER_SMTP_TLS": "none",
    })

    def out(*args: str) -> dict:  # type: ignore[type-arg]
        return json.loads(run(*args, "--json").stdout)

    run("db", "upgrade")
    first_article = tmp_path / "tides.md"
    first_article.write_text("---\ntitle: Why the tides run late\n---\nA short note on the tides.\n", encoding="utf-8")
    run("ingest", str(first_article))  # a file ingested by hand: the first list's
    second = out("lists", "create", "--name", "Harbour Notes", "--slug", "harbour", "--from", "notes@example.org")
    assert second["slug"] == "harbour"
    # The harbour list's articles come from its own source (a folder polled once).
    folder = tmp_path / "harbour-articles"
    shutil.copytree(SEEDS, folder)
    source = out("sources", "add", str(folder), "--list", "harbour")
    run("sources", "poll", str(source["id"]))

    # The first list's readers, some tagged "vip": they must get nothing from the harbour list.
    first = tmp_path / "first.csv"
    first.write_text("email,tags\nfirst-vip@example.net,vip\nfirst-plain@example.net,\n", encoding="utf-8")
    assert out("subscribers", "import", str(first), "--confirmed")["added"] == 2
    # The harbour list's readers: two active VIPs, one active reader without the tag, and a
    # pending VIP (never confirmed).
    harbour = tmp_path / "harbour.csv"
    harbour.write_text("email,tags\nana@example.net,vip\nbob@example.net,\"vip;press\"\ncy@example.net,press\n",
                       encoding="utf-8")
    assert out("subscribers", "import", str(harbour), "--confirmed", "--list", "harbour")["added"] == 3
    pending = tmp_path / "pending.csv"
    pending.write_text("email,tags\npen@example.net,vip\n", encoding="utf-8")
    run("subscribers", "import", str(pending), "--list", "harbour")
    # A reader on both lists: a VIP of the harbour list too.
    run("subscribers", "add", "first-vip@example.net", "--list", "harbour")

    segment = out("segments", "create", "--name", "Harbour VIPs", "--list", "harbour", "--tag", "vip")
    assert segment["count"] == 3  # ana, bob, first-vip

    confirmations = len(smtp_server.messages)  # pen@ was asked to confirm: not the issue
    issue = out("issues", "compose", "--list", "harbour")["id"]
    assert out("issues", "send", str(issue), "--segment", str(segment["id"]), "--force") == {"id": issue, "queued": 3}
    run("worker", "--until-idle")  # on PostgreSQL several processes: counted at the server below

    expected = {"ana@example.net", "bob@example.net", "first-vip@example.net"}
    sent = smtp_server.messages[confirmations:]
    # Each exactly once, nobody else.
    assert sorted(rcpt for m in sent for rcpt in m.rcpt_tos) == sorted(expected)
    for envelope in sent:
        message = email.message_from_bytes(envelope.data, policy=email.policy.default)
        assert "Harbour Notes" in str(message["From"]) and "notes@example.org" in str(message["From"])
        assert "/harbour" in str(message["List-Unsubscribe"])

    # A segment of one list is refused for another list's issue, and nothing is queued.
    other = out("issues", "compose")["id"]
    refused = run("issues", "send", str(other), "--segment", str(segment["id"]), "--force", ok=False)
    assert refused.returncode == 1 and "another list" in refused.stderr
    status = out("issues", "status", str(other))
    assert (status["status"], status["total"]) == ("draft", 0)
