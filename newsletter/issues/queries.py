"""Issues as the JSON API lists and shows them.

Editing lives in issues.editor, sending in issues.publishing (which also refuses a second send,
whoever asks); this module only reads.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from newsletter.content.models import Article
from newsletter.issues.models import Issue, IssueArticle, IssueStatus
from newsletter.issues.publishing import IssueNotFound

# Issues whose send has started: they have figures worth reading.
WENT_OUT = (IssueStatus.SENDING, IssueStatus.PAUSED, IssueStatus.SENT, IssueStatus.CANCELLED)


@dataclass(frozen=True)
class IssueSummary:
    id: int
    number: int
    week: str | None
    subject: str
    status: IssueStatus
    article_count: int
    created_at: datetime
    scheduled_at: datetime | None
    sent_at: datetime | None


@dataclass(frozen=True)
class ArticleRef:
    id: int
    title: str


@dataclass(frozen=True)
class IssueDetail:
    id: int
    number: int
    week: str | None
    subject: str
    preheader: str
    editor_note: str
    status: IssueStatus
    articles: list[ArticleRef]  # in the issue's order
    created_at: datetime
    scheduled_at: datetime | None
    sent_at: datetime | None
    article_mode: str = "full"  # or "excerpt": each article's opening, the whole on the web version


@dataclass(frozen=True)
class IssuePage:
    total: int  # matching the filter, over all pages
    items: list[IssueSummary]


def _article_counts(session: Session, issue_ids: list[int]) -> dict[int, int]:
    if not issue_ids:
        return {}
    query = (
        select(IssueArticle.issue_id, func.count())
        .where(IssueArticle.issue_id.in_(issue_ids))
        .group_by(IssueArticle.issue_id)
    )
    return {issue_id: count for issue_id, count in session.execute(query)}


def _page(session: Session, statuses: tuple[IssueStatus, ...] | None, limit: int, offset: int) -> IssuePage:
    query = select(Issue)
    if statuses is not None:
        query = query.where(Issue.status.in_(statuses))
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    # Numbers only grow, so the highest number is the newest issue.
    issues = list(session.scalars(query.order_by(Issue.number.desc()).limit(limit).offset(offset)))
    counts = _article_counts(session, [i.id for i in issues])
    items = [
        IssueSummary(i.id, i.number, i.week, i.subject, i.status, counts.get(i.id, 0), i.created_at,
                     i.scheduled_at, i.sent_at)
        for i in issues
    ]
    return IssuePage(total, items)


def list_issues(
    sessions: sessionmaker[Session], status: IssueStatus | None = None, limit: int = 50, offset: int = 0
) -> IssuePage:
    """Newest first, optionally only those with ``status``."""
    with sessions() as session:
        return _page(session, None if status is None else (status,), limit, offset)


def issues_sent(sessions: sessionmaker[Session], limit: int = 50, offset: int = 0) -> IssuePage:
    """Issues whose send has started (sending, paused, sent or cancelled), newest first."""
    with sessions() as session:
        return _page(session, WENT_OUT, limit, offset)


def get_issue(sessions: sessionmaker[Session], issue_id: int) -> IssueDetail:
    with sessions() as session:
        issue = session.get(Issue, issue_id)
        if issue is None:
            raise IssueNotFound(f"there is no issue {issue_id}")
        articles = session.execute(
            select(Article.id, Article.title)
            .join(IssueArticle, IssueArticle.article_id == Article.id)
            .where(IssueArticle.issue_id == issue_id)
            .order_by(IssueArticle.position)
        )
        return IssueDetail(
            id=issue.id,
            number=issue.number,
            week=issue.week,
            subject=issue.subject,
            preheader=issue.preheader,
            editor_note=issue.editor_note,
            status=issue.status,
            articles=[ArticleRef(article_id, title) for article_id, title in articles],
            created_at=issue.created_at,
            scheduled_at=issue.scheduled_at,
            sent_at=issue.sent_at,
            article_mode=issue.article_mode,
        )

