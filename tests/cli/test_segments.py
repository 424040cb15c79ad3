"""`newsletter segments ...`, `fields ...`, `subscribers tag|untag` and `issues send --segment`:
their --json contracts and exit codes."""

from __future__ import annotations

import json
from pathlib import Path

SEEDS = Path(__file__).resolve().parents[2] / "seeds"


def out(run, *args: str) -> dict:  # type: ignore[no-untyped-def]
    return json.loads(run(*args, "--json").stdout)


def test_send_to_a_tag_segment_queues_its_active_readers_only(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    run("ingest", str(SEEDS))
    assert out(run, "fields", "create", "--key", "age", "--label", "Age", "--type", "number") == {
        "id": 1, "key": "age", "label": "Age", "type": "number"}
    people = tmp_path / "people.csv"
    people.write_text("email,tags,age\nana@example.net,vip,40\nbob@example.net,\"vip;press\",20\n"
                      "cy@example.net,press,50\ndi@example.net,,\n", encoding="utf-8")
    assert out(run, "subscribers", "import", str(people), "--confirmed")["added"] == 4
    pending = tmp_path / "pending.csv"
    pending.write_text("email,tags\npen@example.net,vip\n", encoding="utf-8")
    run("subscribers", "import", str(pending))  # pending: has the tag, gets nothing

    created = out(run, "segments", "create", "--name", "VIPs", "--list", "the-weekly-briefing", "--tag", "vip")
    assert created == {"id": 1, "count": 2}
    older = out(run, "segments", "create", "--name", "Older", "--list", "the-weekly-briefing", "--field", "age >= 40",
                "--no-tag", "press")
    assert older == {"id": 2, "count": 1}
    listed = out(run, "segments", "list")["segments"]
    assert [(s["id"], s["name"], s["list"], s["count"]) for s in listed] == [(2, "Older", "the-weekly-briefing", 1), (1, "VIPs", "the-weekly-briefing", 2)]
    assert listed[1]["filter"] == {"tags": [{"match": "all", "tags": ["vip"]}]}

    assert out(run, "subscribers", "tag", "di@example.net", "VIP", "new")["tags"] == ["new", "vip"]
    assert out(run, "subscribers", "untag", "di@example.net", "new")["tags"] == ["vip"]
    shown = out(run, "subscribers", "show", "ana@example.net")
    assert (shown["tags"], shown["fields"]) == (["vip"], {"age": 40.0})

    issue = out(run, "issues", "compose")["id"]
    assert out(run, "issues", "send", str(issue), "--segment", "1") == {"id": issue, "queued": 3}
    assert out(run, "worker", "--until-idle")["handled"] == 3
    for email, got in (("ana", 1), ("bob", 1), ("di", 1), ("cy", 0), ("pen", 0)):
        history = out(run, "subscribers", "show", f"{email}@example.net")["delivery_history"]
        assert len(history) == got, email

    # The issue keeps the segment it was sent to; one never sent to is removed.
    kept = run("segments", "remove", "1", ok=False)
    assert kept.returncode == 1 and f"issue {issue}" in kept.stderr
    assert out(run, "segments", "remove", "2") == {"id": 2, "removed": True}
    assert [s["id"] for s in out(run, "segments", "list")["segments"]] == [1]
    gone = run("segments", "remove", "2", ok=False)
    assert gone.returncode == 1 and "no segment 2" in gone.stderr


def test_bad_segment_input_is_one_line_and_exit_1(run) -> None:  # type: ignore[no-untyped-def]
    bad = run("segments", "create", "--name", "X", "--list", "other", "--tag", "a", "--json", ok=False)
    assert (bad.returncode, bad.stdout) == (1, "") and "unknown list: other" in bad.stderr
    bad = run("segments", "create", "--name", "X", "--list", "the-weekly-briefing", "--field", "age >= 3", ok=False)
    assert bad.returncode == 1 and "unknown field: 'age'" in bad.stderr
    bad = run("segments", "create", "--name", "X", "--list", "the-weekly-briefing", "--field", "age", ok=False)
    assert bad.returncode == 1 and "KEY OP VALUE" in bad.stderr
    bad = run("fields", "create", "--key", "Bad Key", "--label", "x", "--type", "text", ok=False)
    assert bad.returncode == 1 and "field key" in bad.stderr
    bad = run("fields", "create", "--key", "email", "--label", "x", "--type", "text", ok=False)
    assert bad.returncode == 1 and "import already reads" in bad.stderr
    bad = run("issues", "send", "1", "--segment", "9", ok=False)
    assert bad.returncode == 1 and "Traceback" not in bad.stderr
    assert out(run, "segments", "list") == {"segments": []} and out(run, "fields", "list") == {"fields": []}
