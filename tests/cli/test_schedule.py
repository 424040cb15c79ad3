"""`newsletter schedule ...` and the approve/schedule commands of `newsletter issues`, as real processes."""

from __future__ import annotations

import json
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest

from newsletter.config import load_settings
from newsletter.schedule.cycle import CycleRunner
from newsletter.schedule.weekly import update_schedule
from newsletter.issues.models import Issue, IssueStatus
from newsletter.schedule.models import WeeklyCycle
from newsletter.services import Services
from tests.factories import add_article

NEWSLETTER = str(Path(sys.executable).parent / "newsletter")


@pytest.fixture
def services(tmp_path):
    """The same database the commands use, opened in-process to set the scene."""
    settings = load_settings(data_dir=tmp_path / "var", backend="memory", base_url="https://news.example.org",
                             from_address="The Briefing <briefing@example.org>")
    services = Services.build(settings)
    yield services
    services.close()


def test_schedule_show_gives_the_defaults_and_the_next_five_runs(run):
    shown = json.loads(run("schedule", "show", "--json").stdout)
    assert shown["schedule"] == {"compose_day": "fri", "compose_time": "16:00", "send_day": "sat",
                                 "send_time": "07:00", "time_zone": "Europe/London", "mode": "auto"}
    assert shown["stored"] is False
    runs = shown["next_runs"]
    assert len(runs) == 5 and {r["kind"] for r in runs} == {"compose", "send"}
    first = datetime.fromisoformat(runs[0]["utc"])
    assert first > datetime.now(timezone.utc) and datetime.fromisoformat(runs[0]["local"]) == first
    text = run("schedule", "show").stdout
    assert "send     sat 07:00" in text and "UTC" in text


def test_schedule_set_changes_only_what_is_given(run):
    done = json.loads(run("schedule", "set", "--send", "sun 09:30", "--tz", "America/New_York", "--json").stdout)
    assert done["schedule"]["send_day"] == "sun" and done["schedule"]["time_zone"] == "America/New_York"
    assert done["schedule"]["compose_time"] == "16:00" and done["stored"] is True
    run("schedule", "set", "--mode", "local-time", "--compose", "thu 08:00")
    shown = json.loads(run("schedule", "show", "--json").stdout)["schedule"]
    assert shown == {"compose_day": "thu", "compose_time": "08:00", "send_day": "sun", "send_time": "09:30",
                     "time_zone": "America/New_York", "mode": "local-time"}
    first = json.loads(run("schedule", "show", "--json").stdout)["next_runs"][0]
    offset = datetime.fromisoformat(first["local"]).utcoffset()
    assert offset is not None and offset.total_seconds() / 3600 in (-4, -5)  # New York's EDT or EST


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--tz", "Mars/Olympus"), "unknown time zone 'Mars/Olympus'"),
        (("--send", "sat 7pm"), "expected HH:MM"),
        (("--compose", "sun 10:00"), "comes before the compose time"),
        (("--mode", "sometimes"), "expected one of auto, approve, local-time"),
        ((), "nothing to change"),
    ],
)
def test_schedule_set_refuses_bad_input_and_changes_nothing(run, args, message):
    run("schedule", "set", "--send", "sat 07:00")
    before = json.loads(run("schedule", "show", "--json").stdout)["schedule"]
    done = run("schedule", "set", *args, ok=False)
    assert done.returncode == 1 and message in done.stderr and "Traceback" not in done.stderr
    assert json.loads(run("schedule", "show", "--json").stdout)["schedule"] == before


def test_issues_approve(run, services):
    update_schedule(services.sessions, services.settings, mode="approve")
    add_article(services.sessions, "A piece", datetime(2026, 11, 25, tzinfo=timezone.utc))
    CycleRunner(services).tick(datetime(2026, 11, 27, 16, 0, tzinfo=timezone.utc))
    with services.sessions() as session:
        issue_id = session.get(WeeklyCycle, (1, "2026-W48")).issue_id
    approved = json.loads(run("issues", "approve", str(issue_id), "--json").stdout)
    assert approved["week"] == "2026-W48" and approved["approved_at"]
    again = run("issues", "approve", str(issue_id), ok=False)
    assert again.returncode == 1 and "not awaiting approval" in again.stderr
    missing = run("issues", "approve", "99", ok=False)
    assert missing.returncode == 1 and "no issue 99" in missing.stderr


def test_issues_schedule_and_unschedule(run, services):
    from newsletter.issues.compose import compose

    add_article(services.sessions, "A piece")
    issue_id = str(compose(services.sessions, services.settings).issue_id)
    done = json.loads(run("issues", "schedule", issue_id, "--at", "2099-12-05 07:00", "--tz", "Asia/Tokyo",
                          "--json").stdout)
    assert done["status"] == "scheduled" and done["scheduled_at"] == "2099-12-04T22:00:00+00:00"
    with services.sessions() as session:
        issue = session.get(Issue, int(issue_id))
        assert issue.status is IssueStatus.SCHEDULED
    assert json.loads(run("issues", "unschedule", issue_id, "--json").stdout)["status"] == "draft"
    with services.sessions() as session:
        issue = session.get(Issue, int(issue_id))
        assert issue.status is IssueStatus.DRAFT and issue.scheduled_at is None
    again = run("issues", "unschedule", issue_id, ok=False)
    assert again.returncode == 1 and "cannot unschedule issue" in again.stderr


@pytest.mark.parametrize(
    ("at", "message"),
    [("2020-01-01 07:00", "in the past"), ("next friday", "expected YYYY-MM-DD HH:MM"), ("2099-02-30 07:00", "expected")],
)
def test_issues_schedule_refuses_bad_times(run, services, at, message):
    from newsletter.issues.compose import compose

    add_article(services.sessions, "A piece")
    issue_id = str(compose(services.sessions, services.settings).issue_id)
    done = run("issues", "schedule", issue_id, "--at", at, ok=False)
    assert done.returncode == 1 and message in done.stderr and "Traceback" not in done.stderr
    with services.sessions() as session:
        assert session.get(Issue, int(issue_id)).status is IssueStatus.DRAFT


def test_schedule_set_and_show_per_list(run):
    run("lists", "create", "--name", "Tech Notes")
    done = json.loads(run("schedule", "set", "--list", "tech-notes", "--send", "tue 08:00", "--compose", "mon 09:00",
                          "--json").stdout)
    assert done["list"] == "tech-notes" and done["stored"] is True and done["schedule"]["send_day"] == "tue"
    first = json.loads(run("schedule", "show", "--json").stdout)
    assert first["list"] == "the-weekly-briefing" and first["stored"] is False
    assert first["schedule"]["send_day"] == "sat"  # the first list's is untouched
    assert json.loads(run("schedule", "show", "--list", "tech-notes", "--json").stdout)["schedule"] == done["schedule"]
    for args in (["show"], ["set", "--send", "wed 08:00"]):
        unknown = run("schedule", *args, "--list", "nope", ok=False)
        assert unknown.returncode == 1 and unknown.stderr.strip().endswith("unknown list: nope")
    assert json.loads(run("schedule", "show", "--list", "tech-notes", "--json").stdout)["schedule"] == done["schedule"]
