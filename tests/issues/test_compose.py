from datetime import datetime, timedelta, timezone

import pytest

from newsletter.issues.compose import ComposeError, Week, compose
from newsletter.issues.models import Issue, IssueStatus
from tests.factories import add_article

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=timezone.utc)  # a Wednesday in 2026-W48


def test_compose_takes_the_weeks_articles_newest_first(sessions, settings):
    add_article(sessions, "Monday piece", NOW - timedelta(days=2))
    add_article(sessions, "Wednesday piece", NOW)
    add_article(sessions, "Last week's piece", NOW - timedelta(days=8))
    add_article(sessions, "Next week's piece", NOW + timedelta(days=7))

    result = compose(sessions, settings, now=NOW)

    assert result.created and result.week == "2026-W48" and result.number == 1
    with sessions() as session:
        issue = session.get(Issue, result.issue_id)
        assert [a.title for a in issue.articles] == ["Wednesday piece", "Monday piece"]
        assert issue.status is IssueStatus.DRAFT
        assert issue.subject == "The Test Briefing #1: Wednesday piece"
        assert issue.preheader.startswith("The first paragraph of Wednesday piece")


def test_composing_a_week_twice_returns_the_same_issue(sessions, settings):
    add_article(sessions, "Only piece", NOW)
    first = compose(sessions, settings, now=NOW)
    second = compose(sessions, settings, week=Week.parse("2026-W48"))
    assert second.issue_id == first.issue_id and not second.created
    with sessions() as session:
        assert session.query(Issue).count() == 1


def test_an_empty_week_is_a_clear_error(sessions, settings):
    with pytest.raises(ComposeError, match="no articles were published in 2026-W48"):
        compose(sessions, settings, now=NOW)


@pytest.mark.parametrize("text", ["2026-48", "W48", "2026-W54", "2026-W00", ""])
def test_bad_week_names_are_rejected(text):
    with pytest.raises(ComposeError):
        Week.parse(text)


def test_week_bounds_follow_the_lists_time_zone():
    from zoneinfo import ZoneInfo

    start, end = Week.parse("2026-W27").bounds(ZoneInfo("Europe/London"))
    assert start == datetime(2026, 6, 28, 23, 0, tzinfo=timezone.utc)  # Monday 00:00 BST
    assert end - start == timedelta(days=7)
