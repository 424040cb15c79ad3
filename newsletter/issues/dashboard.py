"""The dashboard's series: readers over the weeks, each issue's outcome, and how a tracked issue
was opened and clicked in its first 72 hours.

Every query is bounded (the last 26 weeks, the last 12 issues, one issue's first 72 hours) and
grouped by the database, so the dashboard reads a few hundred rows however large the list. Days
and hours are bucketed with the one date function each database spells differently; weeks are
made from days in Python (ISO weeks, Monday to Sunday, UTC).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Integer, cast, extract, func, select
from sqlalchemy.orm import Session, sessionmaker

from newsletter.db.base import utcnow
from newsletter.delivery.models import Delivery
from newsletter.issues.figures import issue_figures
from newsletter.issues.models import Issue, IssueLink, IssueStatus, TrackingEvent
from newsletter.issues.publishing import IssueNotFound
from newsletter.issues.tracking import CLICK, OPEN
from newsletter.readers.models import SubscriberEvent, SubscriberEventKind

WEEKS = 26
ISSUES = 12
HOURS = 72
TOP_LINKS = 10
JULIAN_UNIX_EPOCH = 2_440_587.5  # SQLite's julianday() of 1970-01-01T00:00Z
# What moves a reader onto or off the list, by the history's event kinds.
JOINED = (SubscriberEventKind.SUBSCRIBED, SubscriberEventKind.RESUBSCRIBED, SubscriberEventKind.IMPORTED)
LEFT = (SubscriberEventKind.UNSUBSCRIBED, SubscriberEventKind.COMPLAINED)
BOUNCED = (SubscriberEventKind.BOUNCED, SubscriberEventKind.SUSPENDED)  # hard, or too many soft
# Issues that went out (or are going out): a draft has no outcome to show.
SENT_STATES = (IssueStatus.SENDING, IssueStatus.PAUSED, IssueStatus.SENT)


@dataclass(frozen=True)
class WeekReaders:
    week_start: date  # the Monday
    joined: int
    left: int
    bounced: int

    @property
    def label(self) -> str:
        return f"{self.week_start:%d %b}"


@dataclass(frozen=True)
class IssueOutcome:
    issue_id: int
    number: int
    subject: str
    recipients: int
    delivered: int
    bounced: int
    complaints: int
    unsubscribes: int
    unique_opens: int | None  # None: sent untracked
    unique_clicks: int | None


@dataclass(frozen=True)
class HourActivity:
    hour: int  # hours after the first delivery went out: 0 is the first hour
    opens: int
    clicks: int


@dataclass(frozen=True)
class LinkClicks:
    idx: int
    url: str
    clicks: int
    readers: int


@dataclass(frozen=True)
class TrackedIssue:
    issue_id: int
    number: int
    subject: str


@dataclass(frozen=True)
class Engagement:
    """One tracked issue's first hours; ``started_at`` None when nothing has been sent yet."""

    issue: TrackedIssue
    started_at: datetime | None
    hours: list[HourActivity]  # always HOURS long, quiet hours as zeros
    top_links: list[LinkClicks]

    @property
    def opens(self) -> int:
        return sum(h.opens for h in self.hours)

    @property
    def clicks(self) -> int:
        return sum(h.clicks for h in self.hours)


def week_start(day: date) -> date:
    return day - timedelta(days=day.weekday())


def _day(value: Any) -> date:
    # PostgreSQL's date() gives a date; SQLite's gives 'YYYY-MM-DD' text.
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


def reader_weeks(sessions: sessionmaker[Session], now: datetime | None = None, weeks: int = WEEKS) -> list[WeekReaders]:
    """Joined, left and bounced per week for the last ``weeks`` weeks (this one last), from the
    readers' history. Joined: sign-ups, returns and imports; left: unsubscribes and complaints;
    bounced: hard bounces and suspensions after soft ones. An erased reader's history is gone."""
    now = now or utcnow()
    first = week_start(now.date()) - timedelta(weeks=weeks - 1)
    since = datetime(first.year, first.month, first.day, tzinfo=now.tzinfo)
    day = func.date(SubscriberEvent.created_at)
    with sessions() as session:
        rows = session.execute(
            select(day, SubscriberEvent.kind, func.count())
            .where(SubscriberEvent.created_at >= since, SubscriberEvent.kind.in_(JOINED + LEFT + BOUNCED))
            .group_by(day, SubscriberEvent.kind)
        ).all()
    counts: dict[date, list[int]] = {first + timedelta(weeks=i): [0, 0, 0] for i in range(weeks)}
    for value, kind, n in rows:
        bucket = counts.get(week_start(_day(value)))
        if bucket is None:  # an event dated after now (a clock ahead of ours): not drawn
            continue
        slot = 0 if kind in JOINED else 1 if kind in LEFT else 2
        bucket[slot] += int(n)
    return [WeekReaders(start, *values) for start, values in counts.items()]


def issue_outcomes(sessions: sessionmaker[Session], issues: int = ISSUES) -> list[IssueOutcome]:
    """The last ``issues`` issues that went out, oldest first, with their figures."""
    with sessions() as session:
        latest = session.execute(
            select(Issue.id, Issue.number, Issue.subject)
            .where(Issue.status.in_(SENT_STATES))
            .order_by(Issue.number.desc())
            .limit(issues)
        ).all()
    outcomes = []
    for issue_id, number, subject in reversed(latest):
        f = issue_figures(sessions, issue_id)
        outcomes.append(IssueOutcome(
            issue_id=issue_id, number=number, subject=subject, recipients=f.recipients, delivered=f.sent,
            bounced=f.bounced, complaints=f.complaints or 0, unsubscribes=f.unsubscribes or 0,
            unique_opens=f.unique_opens, unique_clicks=f.unique_clicks,
        ))
    return outcomes


def tracked_issues(sessions: sessionmaker[Session], issues: int = ISSUES) -> list[TrackedIssue]:
    """The last ``issues`` tracked issues that went out, newest first: the engagement chart's choice."""
    with sessions() as session:
        rows = session.execute(
            select(Issue.id, Issue.number, Issue.subject)
            .where(Issue.tracking.is_(True), Issue.status.in_(SENT_STATES))
            .order_by(Issue.number.desc())
            .limit(issues)
        ).all()
    return [TrackedIssue(i, n, s) for i, n, s in rows]


def _hours_after(moment: Any, start: datetime, dialect: str) -> ColumnElement[int]:
    # Whole hours from the start, computed by the database so only the buckets come back.
    if dialect == "postgresql":  # a cast to integer would round: floor first
        return cast(func.floor(extract("epoch", moment - start) / 3600), Integer)
    # SQLite keeps naive UTC as ISO text and julianday() counts days as a float: rounded to whole
    # milliseconds first (an event at exactly one hour is not 0.99999 hours), then integer
    # division; the rows are at or after the start, so it is the floor (SQLite may lack floor()).
    start_day = start.timestamp() / 86_400 + JULIAN_UNIX_EPOCH  # computed once, not per row
    millis = cast(func.round((func.julianday(moment) - start_day) * 86_400_000), Integer)
    return cast(millis / 3_600_000, Integer)


def engagement(
    sessions: sessionmaker[Session], issue_id: int, hours: int = HOURS, *, with_links: bool = True
) -> Engagement:
    """Opens and clicks per hour in the first ``hours`` after the issue's first delivery went
    out, and (``with_links``) its most clicked links; IssueNotFound if there is no such tracked
    issue. Each part is one grouped query: ``hours=0`` or ``with_links=False`` skips one."""
    with sessions() as session:
        row = session.execute(
            select(Issue.number, Issue.subject).where(Issue.id == issue_id, Issue.tracking.is_(True))
        ).one_or_none()
        if row is None:
            raise IssueNotFound(f"there is no tracked issue {issue_id}")
        issue = TrackedIssue(issue_id, row.number, row.subject)
        started = session.scalar(select(func.min(Delivery.sent_at)).where(Delivery.issue_id == issue_id))
        if started is None:
            return Engagement(issue, None, [HourActivity(h, 0, 0) for h in range(hours)], [])
        per_hour = _per_hour(session, issue_id, started, hours) if hours else []
        links = _top_links(session, issue_id) if with_links else []
    return Engagement(issue, started, per_hour, links)


def _per_hour(session: Session, issue_id: int, started: datetime, hours: int) -> list[HourActivity]:
    hour = _hours_after(TrackingEvent.created_at, started, session.get_bind().dialect.name)
    # Grouped on a subquery's column: PostgreSQL would not match a GROUP BY expression that
    # repeats bound parameters with the one in the select list.
    events = (
        select(hour.label("hour"), TrackingEvent.kind.label("kind"))
        .where(
            TrackingEvent.issue_id == issue_id,
            TrackingEvent.created_at >= started,
            TrackingEvent.created_at < started + timedelta(hours=hours),
        )
        .subquery()
    )
    grouped = session.execute(
        select(events.c.hour, events.c.kind, func.count()).group_by(events.c.hour, events.c.kind)
    ).all()
    counts = [[0, 0] for _ in range(hours)]
    for h, kind, n in grouped:
        if 0 <= int(h) < hours:
            counts[int(h)][0 if kind == OPEN else 1] += int(n)
    return [HourActivity(h, opens, clicks) for h, (opens, clicks) in enumerate(counts)]


def _top_links(session: Session, issue_id: int) -> list[LinkClicks]:
    clicks = func.count(TrackingEvent.id)
    rows = session.execute(
        select(IssueLink.idx, IssueLink.url, clicks, func.count(TrackingEvent.subscriber_id.distinct()))
        .join(TrackingEvent, (TrackingEvent.issue_id == IssueLink.issue_id) & (TrackingEvent.link_idx == IssueLink.idx))
        .where(IssueLink.issue_id == issue_id, TrackingEvent.kind == CLICK)
        .group_by(IssueLink.idx, IssueLink.url)
        .order_by(clicks.desc(), IssueLink.idx)
        .limit(TOP_LINKS)
    ).all()
    return [LinkClicks(idx, url, int(n), int(readers)) for idx, url, n, readers in rows]
