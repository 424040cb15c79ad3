"""Read-only views of issues for the pages: the issues list with send totals, an issue's detail, the
archive and its Atom feed (only sent issues are public)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session, sessionmaker

from newsletter.delivery.enqueue import for_send
from newsletter.delivery.models import Delivery, DeliveryStatus
from newsletter.issues.models import Issue, IssueArticle, IssueStatus
from newsletter.lists.models import FIRST_LIST_ID
from newsletter.readers.models import Subscriber


@dataclass(frozen=True)
class IssueRow:
    id: int
    number: int
    week: str
    subject: str
    status: str
    article_count: int
    sent_at: datetime | None


@dataclass(frozen=True)
class SendTotals:
    sent: int
    total: int


@dataclass(frozen=True)
class ArticleRow:
    title: str
    author: str
    published_at: datetime
    url: str


@dataclass(frozen=True)
class IssueDetail:
    row: IssueRow
    preheader: str
    articles: list[ArticleRow]


def _article_counts(session: Session) -> dict[int, int]:
    query = select(IssueArticle.issue_id, func.count()).group_by(IssueArticle.issue_id)
    return {issue_id: count for issue_id, count in session.execute(query)}


def _row(issue: Issue, article_count: int) -> IssueRow:
    return IssueRow(
        issue.id, issue.number, issue.week or "", issue.subject, issue.status.value, article_count, issue.sent_at
    )


def list_issues(sessions: sessionmaker[Session], sent_only: bool = False, list_id: int | None = None) -> list[IssueRow]:
    """Newest first (numbers only grow, so the highest number is the newest issue); only the
    list's when ``list_id`` is given."""
    query = select(Issue).order_by(Issue.number.desc())
    if sent_only:
        query = query.where(Issue.status == IssueStatus.SENT)
    if list_id is not None:
        query = query.where(Issue.list_id == list_id)
    with sessions() as session:
        counts = _article_counts(session)
        return [_row(issue, counts.get(issue.id, 0)) for issue in session.scalars(query)]


def send_totals(sessions: sessionmaker[Session]) -> dict[int, SendTotals]:
    """Sent and all deliveries per issue, in one query; issues without deliveries are absent."""
    sent = func.count(case((Delivery.status == DeliveryStatus.SENT, 1)))  # COUNT skips the NULLs
    query = select(Delivery.issue_id, sent, func.count()).group_by(Delivery.issue_id)
    with sessions() as session:
        return {issue_id: SendTotals(n_sent, total) for issue_id, n_sent, total in session.execute(query)}


def issue_detail(sessions: sessionmaker[Session], issue_id: int) -> IssueDetail | None:
    with sessions() as session:
        issue = session.get(Issue, issue_id)
        if issue is None:
            return None
        articles = [ArticleRow(a.title, a.author, a.published_at, a.url) for a in issue.articles]
        return IssueDetail(_row(issue, len(articles)), issue.preheader, articles)


def sent_issue_html(sessions: sessionmaker[Session], number: int, list_id: int | None = None) -> str | None:
    """The stored HTML of a sent issue (slot markers still in), or None if it isn't public (or,
    with ``list_id``, not that list's)."""
    # web_html: the whole articles of an issue mailed as excerpts
    query = select(func.coalesce(Issue.web_html, Issue.html)).where(Issue.number == number,
                                                                   Issue.status == IssueStatus.SENT)
    if list_id is not None:
        query = query.where(Issue.list_id == list_id)
    with sessions() as session:
        return session.scalar(query)


def send_count(sessions: sessionmaker[Session], issue_id: int) -> int:
    """How many readers a send of the issue to everyone would queue now: its list's, by the
    enqueue's own conditions (``delivery.enqueue.for_send``), as a segment's count is."""
    with sessions() as session:
        list_id = session.scalar(select(Issue.list_id).where(Issue.id == issue_id)) or FIRST_LIST_ID
        return session.scalar(select(func.count()).select_from(Subscriber).where(*for_send(list_id))) or 0


FEED_ENTRIES = 50  # feed readers poll; the whole archive is on /archive


@dataclass(frozen=True)
class FeedIssue:
    number: int
    subject: str
    preheader: str
    sent_at: datetime


def sent_issues(sessions: sessionmaker[Session], limit: int = FEED_ENTRIES,
                list_id: int | None = None) -> list[FeedIssue]:
    """Only sent issues: drafts, scheduled and cancelled ones are never public (only the list's
    when ``list_id`` is given)."""
    query = (
        select(Issue.number, Issue.subject, Issue.preheader, Issue.sent_at, Issue.created_at)
        .where(Issue.status == IssueStatus.SENT)
        .order_by(Issue.number.desc())
        .limit(limit)
    )
    if list_id is not None:
        query = query.where(Issue.list_id == list_id)
    with sessions() as session:
        return [
            FeedIssue(number, subject, preheader or "", sent_at or created_at)
            for number, subject, preheader, sent_at, created_at in session.execute(query)
        ]
