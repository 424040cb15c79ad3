"""Compose: the week's articles, newest first, into a draft issue with subject and preheader."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, exists, false, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from newsletter.errors import Conflict
from newsletter.config import Settings
from newsletter.content.models import Article, Source
from newsletter.lists.errors import UnknownList
from newsletter.lists.models import FIRST_LIST_ID, MailingList
from newsletter.issues.models import Issue, IssueArticle, IssueStatus

WEEK_RE = re.compile(r"^(\d{4})-W(\d{2})$")
PREHEADER_MAX = 140


class ComposeError(Conflict):
    """The week cannot be composed (bad week name, no articles); the message says why."""


class NoArticles(ComposeError):
    """Nothing to put in the issue: the weekly cycle records an empty week instead."""


@dataclass(frozen=True)
class Week:
    year: int
    number: int

    @classmethod
    def parse(cls, text: str) -> Week:
        match = WEEK_RE.match(text.strip())
        if not match:
            raise ComposeError(f"week must look like 2026-W48, not {text!r}")
        year, number = int(match[1]), int(match[2])
        try:
            date.fromisocalendar(year, number, 1)
        except ValueError as exc:
            raise ComposeError(f"{text} is not a week of {year}") from exc
        return cls(year, number)

    @classmethod
    def containing(cls, moment: datetime, zone: ZoneInfo) -> Week:
        year, number, _ = moment.astimezone(zone).isocalendar()
        return cls(year, number)

    def __str__(self) -> str:
        return f"{self.year}-W{self.number:02d}"

    def monday(self) -> date:
        return date.fromisocalendar(self.year, self.number, 1)

    def shift(self, weeks: int) -> Week:
        year, number, _ = (self.monday() + timedelta(weeks=weeks)).isocalendar()
        return Week(year, number)

    def bounds(self, zone: ZoneInfo) -> tuple[datetime, datetime]:
        """Monday 00:00 to the next Monday 00:00 in the list's zone, as UTC."""
        monday = date.fromisocalendar(self.year, self.number, 1)
        start = datetime.combine(monday, time(0), zone)
        end = datetime.combine(monday + timedelta(days=7), time(0), zone)
        return start.astimezone(timezone.utc), end.astimezone(timezone.utc)


@dataclass(frozen=True)
class ComposeResult:
    issue_id: int
    number: int
    week: str
    subject: str
    article_count: int
    created: bool  # False: the week already had an issue, which is returned unchanged


def _preheader(article: Article) -> str:
    text = article.standfirst or (article.paragraphs[0] if article.paragraphs else "")
    text = " ".join(text.split())
    if len(text) <= PREHEADER_MAX:
        return text
    return text[: PREHEADER_MAX - 1].rsplit(" ", 1)[0] + "…"


def compose(
    sessions: sessionmaker[Session], settings: Settings, week: Week | None = None, now: datetime | None = None,
    *, unsent_only: bool = False, list_id: int = FIRST_LIST_ID,
) -> ComposeResult:
    """Make the list's draft issue of the week; composing a week that has an issue returns that issue.

    ``unsent_only``: every article not yet in any issue and published before the week ends
    (the weekly cycle's rule, so each article goes out once), instead of the week's articles.
    """
    zone = ZoneInfo(settings.time_zone)
    week = week or Week.containing(now or datetime.now(timezone.utc), zone)
    with sessions.begin() as session:
        try:
            return compose_in(session, settings, week, zone, unsent_only=unsent_only, list_id=list_id)
        except IntegrityError as exc:
            # Another process composed the same week (or took the number) at the same moment.
            raise ComposeError(f"{week} was composed concurrently; run compose again") from exc


def compose_in(
    session: Session, settings: Settings, week: Week, zone: ZoneInfo, *, unsent_only: bool = False,
    list_id: int = FIRST_LIST_ID,
) -> ComposeResult:
    """``compose`` inside the caller's transaction (the weekly cycle claims the week in the same one).

    A concurrent compose of the same week surfaces as IntegrityError from the flush.
    """
    start, end = week.bounds(zone)
    existing = session.scalar(select(Issue).where(Issue.list_id == list_id, Issue.week == str(week)))
    if existing is not None:
        return _result(existing, created=False)
    mailing_list = session.get(MailingList, list_id)
    if mailing_list is None:
        raise UnknownList(str(list_id))
    query = select(Article).where(Article.published_at < end, Article.hidden == false(),  # hidden: never sent
                                  _of_list(list_id))
    if unsent_only:
        query = query.where(~exists().where(IssueArticle.article_id == Article.id))
    else:
        query = query.where(Article.published_at >= start)
    articles = list(session.scalars(query.order_by(Article.published_at.desc(), Article.id.desc())))
    if not articles:
        what = "no articles are waiting to be sent" if unsent_only else "no articles were published"
        raise NoArticles(f"{what} in {week}; ingest some first")
    number = (session.scalar(select(func.max(Issue.number))) or 0) + 1
    lead = articles[0]
    name = settings.list_name if list_id == FIRST_LIST_ID else mailing_list.name
    issue = Issue(
        number=number,
        week=str(week),
        list_id=list_id,
        subject=f"{name} #{number}: {lead.title}"[:300],
        preheader=_preheader(lead),
        status=IssueStatus.DRAFT,
        period_start=start,
        period_end=end,
        items=[IssueArticle(article=a, position=i) for i, a in enumerate(articles)],
    )
    session.add(issue)
    session.flush()
    return _result(issue, created=True)


def _of_list(list_id: int) -> ColumnElement[bool]:
    """The list's articles: those of its sources; articles with no source (ingested files, the
    writing desk) belong to the first list."""
    of_sources = Article.source_id.in_(select(Source.id).where(Source.list_id == list_id))
    return or_(Article.source_id.is_(None), of_sources) if list_id == FIRST_LIST_ID else of_sources


def _result(issue: Issue, created: bool) -> ComposeResult:
    return ComposeResult(issue.id, issue.number, issue.week or "", issue.subject, len(issue.items), created)
