"""The dashboard's series from a seeded history on a fixed clock: readers per week, each issue's
outcome, a tracked issue's opens and clicks per hour after its send, and its top links."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

import pytest
from sqlalchemy.orm import Session, sessionmaker

from newsletter.delivery.models import Delivery, DeliveryStatus
from newsletter.issues.dashboard import (
    HOURS,
    HourActivity,
    LinkClicks,
    engagement,
    issue_outcomes,
    reader_weeks,
    tracked_issues,
)
from newsletter.issues.models import Issue, IssueLink, IssueStatus, TrackingEvent
from newsletter.issues.publishing import IssueNotFound
from newsletter.readers.models import SubscriberEvent, SubscriberEventKind as Kind
from newsletter.services import Services
from tests.factories import add_subscribers

NOW = datetime(2026, 3, 11, 12, 0, tzinfo=timezone.utc)  # a Wednesday; its week starts 9 March
THIS_WEEK = date(2026, 3, 9)
SENT = datetime(2026, 3, 2, 9, 30, tzinfo=timezone.utc)  # the tracked issue's first delivery


@dataclass(frozen=True)
class Seeded:
    readers: list[int]
    old_issue: int  # #1, untracked
    tracked_issue: int  # #2, tracked
    draft: int  # #3


def _event(session: Session, reader: int, kind: Kind, at: datetime) -> None:
    session.add(SubscriberEvent(subscriber_id=reader, kind=kind, detail="seeded", created_at=at))


def seed(sessions: sessionmaker[Session]) -> Seeded:
    """A small list's history up to NOW; the same data the page and browser tests draw."""
    r = add_subscribers(sessions, 6)
    with sessions.begin() as session:
        # This week: two sign-ups (one a Monday 00:00 edge), a return, one unsubscribe, one complaint.
        _event(session, r[0], Kind.SUBSCRIBED, datetime(2026, 3, 9, 0, 0, tzinfo=timezone.utc))
        _event(session, r[1], Kind.SUBSCRIBED, NOW - timedelta(hours=1))
        _event(session, r[1], Kind.CONFIRMED, NOW - timedelta(minutes=30))  # not a second join
        _event(session, r[2], Kind.RESUBSCRIBED, NOW - timedelta(hours=2))
        _event(session, r[3], Kind.UNSUBSCRIBED, NOW - timedelta(hours=3))
        _event(session, r[4], Kind.COMPLAINED, NOW - timedelta(hours=4))
        # Last week (Sunday 23:59 is still last week): an import; a hard bounce, a suspension.
        _event(session, r[5], Kind.IMPORTED, datetime(2026, 3, 8, 23, 59, tzinfo=timezone.utc))
        _event(session, r[5], Kind.BOUNCED, datetime(2026, 3, 3, 8, 0, tzinfo=timezone.utc))
        _event(session, r[4], Kind.SUSPENDED, datetime(2026, 3, 4, 8, 0, tzinfo=timezone.utc))
        _event(session, r[4], Kind.SOFT_BOUNCE, datetime(2026, 3, 4, 7, 0, tzinfo=timezone.utc))  # not drawn
        # Before the 26 weeks shown: not counted.
        _event(session, r[0], Kind.SUBSCRIBED, NOW - timedelta(weeks=30))

        old = Issue(number=1, subject="The Test Briefing #1: Old news", status=IssueStatus.SENT)
        tracked = Issue(number=2, subject="The Test Briefing #2: =SUM(A1)", status=IssueStatus.SENT, tracking=True)
        draft = Issue(number=3, subject="Not sent yet", status=IssueStatus.DRAFT)
        session.add_all([old, tracked, draft])
        session.flush()
        early = SENT - timedelta(days=7)
        for i, reader in enumerate(r):
            bounced = i == 5
            session.add(Delivery(issue_id=old.id, subscriber_id=reader, attempts=1,
                                 status=DeliveryStatus.BOUNCED if bounced else DeliveryStatus.SENT,
                                 sent_at=None if bounced else early + timedelta(minutes=i)))
        for i, reader in enumerate(r[:5]):  # the second minute's delivery is not the start
            session.add(Delivery(issue_id=tracked.id, subscriber_id=reader, attempts=1,
                                 status=DeliveryStatus.SENT, sent_at=SENT + timedelta(minutes=1 - min(i, 1))))
        session.add_all([IssueLink(issue_id=tracked.id, idx=0, url="https://example.org/a"),
                         IssueLink(issue_id=tracked.id, idx=1, url="https://example.org/b"),
                         IssueLink(issue_id=tracked.id, idx=2, url="https://example.org/never-clicked")])

        def track(reader: int | None, kind: str, after: timedelta, link: int | None = None) -> None:
            session.add(TrackingEvent(issue_id=tracked.id, subscriber_id=reader, kind=kind, link_idx=link,
                                      created_at=SENT + after))

        track(r[0], "open", timedelta(minutes=10))  # hour 0
        track(r[1], "open", timedelta(minutes=59, seconds=59))  # hour 0
        track(r[1], "open", timedelta(hours=1))  # hour 1
        track(r[2], "open", timedelta(hours=71, minutes=59))  # the last hour
        track(r[2], "open", timedelta(hours=72))  # after the window
        track(r[3], "open", timedelta(minutes=-1))  # before the first delivery (a test send's pixel)
        track(r[0], "click", timedelta(minutes=20), 1)
        track(r[0], "click", timedelta(minutes=21), 1)
        track(r[1], "click", timedelta(hours=5), 1)
        track(None, "click", timedelta(hours=100), 0)  # an erased reader's, late: still a top-link click
    return Seeded(r, old.id, tracked.id, draft.id)


def test_readers_per_week_from_the_history(services: Services) -> None:
    seed(services.sessions)
    weeks = reader_weeks(services.sessions, now=NOW)
    assert len(weeks) == 26
    assert weeks[-1].week_start == THIS_WEEK and weeks[0].week_start == THIS_WEEK - timedelta(weeks=25)
    assert all(w.week_start.weekday() == 0 for w in weeks)
    this, last = weeks[-1], weeks[-2]
    assert (this.joined, this.left, this.bounced) == (3, 2, 0)
    assert (last.joined, last.left, last.bounced) == (1, 0, 2)
    assert sum(w.joined + w.left + w.bounced for w in weeks[:-2]) == 0
    assert last.label == "02 Mar"


def test_outcome_of_each_issue_that_went_out(services: Services) -> None:
    seed(services.sessions)
    outcomes = issue_outcomes(services.sessions)
    assert [o.number for o in outcomes] == [1, 2]  # oldest first; the draft has no outcome
    old, tracked = outcomes
    assert (old.recipients, old.delivered, old.bounced, old.unsubscribes) == (6, 5, 1, 0)
    assert (old.unique_opens, old.unique_clicks) == (None, None)
    # This week's unsubscribe and complaint came 9 days after #2, the last issue those readers got.
    assert (old.complaints, tracked.complaints) == (0, 1)
    assert (tracked.recipients, tracked.delivered, tracked.bounced, tracked.unsubscribes) == (5, 5, 0, 1)
    assert (tracked.unique_opens, tracked.unique_clicks) == (4, 2)
    assert [o.number for o in issue_outcomes(services.sessions, issues=1)] == [2]  # the latest ones


def test_opens_and_clicks_per_hour_after_the_first_delivery_and_top_links(services: Services) -> None:
    s = seed(services.sessions)
    assert [t.number for t in tracked_issues(services.sessions)] == [2]
    found = engagement(services.sessions, s.tracked_issue)
    assert found.started_at == SENT
    assert len(found.hours) == HOURS
    assert found.hours[0] == HourActivity(0, opens=2, clicks=2)
    assert found.hours[1] == HourActivity(1, opens=1, clicks=0)
    assert found.hours[5] == HourActivity(5, opens=0, clicks=1)
    assert found.hours[71] == HourActivity(71, opens=1, clicks=0)
    assert (found.opens, found.clicks) == (4, 3)  # the one before the send and the one after 72 h left out
    assert found.top_links == [
        LinkClicks(1, "https://example.org/b", clicks=3, readers=2),
        LinkClicks(0, "https://example.org/a", clicks=1, readers=0),
    ]


def test_engagement_only_for_a_tracked_issue(services: Services) -> None:
    s = seed(services.sessions)
    for issue in (s.old_issue, 999):
        with pytest.raises(IssueNotFound):
            engagement(services.sessions, issue)


def test_an_empty_list_draws_empty_series(services: Services) -> None:
    weeks = reader_weeks(services.sessions, now=NOW)
    assert len(weeks) == 26 and all((w.joined, w.left, w.bounced) == (0, 0, 0) for w in weeks)
    assert issue_outcomes(services.sessions) == [] and tracked_issues(services.sessions) == []
