"""Editing an issue before it goes out: subject, preheader, the editor's note, which articles and
in what order; a new issue from chosen articles; and a preview of unsaved changes.

Only drafts and scheduled issues change. Every change renders the issue again at once (render
once, as the publisher does), so the preview, the test send and the send show what was saved.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import exists, false, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from newsletter.errors import Conflict, InvalidInput
from newsletter.content.articles import ArticleView, matches, view
from newsletter.config import Settings
from newsletter.issues.list_profile import ListProfile, load_profile
from newsletter.content.models import Article
from newsletter.db.base import utcnow
from newsletter.issues.models import Issue, IssueArticle, IssueStatus
from newsletter.issues.publishing import IssueNotFound
from newsletter.render.issue import RenderedIssue, TemplateError, render_issue

EDITABLE = (IssueStatus.DRAFT, IssueStatus.SCHEDULED)
# An article in an issue that has started going out counts as sent: it is not offered again.
GONE_OUT = (IssueStatus.SENDING, IssueStatus.PAUSED, IssueStatus.SENT, IssueStatus.CANCELLED)
SUBJECT_MAX = 300
PREHEADER_MAX = 300
NOTE_MAX = 5000
MAX_ARTICLES = 100
LABELS = {"subject": "Subject", "preheader": "Preheader", "editor_note": "Editor's note", "articles": "Articles",
          "article_mode": "Articles in the email"}
ARTICLE_MODES = ("full", "excerpt")  # whole articles, or each one's opening and a link to the web version

__all__ = [
    "EditableIssue",
    "InvalidIssueEdit",
    "IssueNotEditable",
    "IssueNotFound",
    "addable_articles",
    "create_issue",
    "load_issue",
    "move_article",
    "preview_issue",
    "set_issue_articles",
    "update_issue",
]


class IssueNotEditable(Conflict):
    """The issue has started going out (or was cancelled): only drafts and scheduled issues change."""


class InvalidIssueEdit(InvalidInput):
    """What is wrong, per field (``errors``: field name -> message)."""

    def __init__(self, errors: dict[str, str]) -> None:
        self.errors = dict(errors)
        super().__init__("; ".join(f"{LABELS.get(k, k)}: {v}" for k, v in self.errors.items()))


@dataclass(frozen=True)
class EditableIssue:
    """An issue as the editor page shows it."""

    id: int
    number: int
    week: str
    subject: str
    preheader: str
    editor_note: str
    status: IssueStatus
    scheduled_at: datetime | None
    articles: list[ArticleView]
    article_mode: str = "full"

    @property
    def editable(self) -> bool:
        return self.status in EDITABLE


def _one_line(value: str) -> str:
    return " ".join(value.split())


def _check_fields(subject: str | None, preheader: str | None, editor_note: str | None,
                  article_mode: str | None = None) -> None:
    errors: dict[str, str] = {}
    if article_mode is not None and article_mode not in ARTICLE_MODES:
        errors["article_mode"] = "choose full (whole articles) or excerpt (the opening and a link to the web)"
    if subject is not None:
        if not _one_line(subject):
            errors["subject"] = "enter a subject"
        elif len(_one_line(subject)) > SUBJECT_MAX:
            errors["subject"] = f"at most {SUBJECT_MAX} characters (this is {len(_one_line(subject))})"
    if preheader is not None and len(_one_line(preheader)) > PREHEADER_MAX:
        errors["preheader"] = f"at most {PREHEADER_MAX} characters (this is {len(_one_line(preheader))})"
    if editor_note is not None and len(editor_note.strip()) > NOTE_MAX:
        errors["editor_note"] = f"at most {NOTE_MAX:,} characters (this is {len(editor_note.strip()):,})"
    if errors:
        raise InvalidIssueEdit(errors)


def _note(text: str) -> str:
    # Paragraphs survive; the browser's CRLF and trailing blanks do not.
    return "\n".join(line.rstrip() for line in text.strip().splitlines())


def _editable(session: Session, issue_id: int) -> Issue:
    # FOR UPDATE (PostgreSQL) so a send queued meanwhile cannot start between the check and the write.
    issue = session.scalar(select(Issue).where(Issue.id == issue_id).with_for_update())
    if issue is None:
        raise IssueNotFound(f"there is no issue {issue_id}")
    if issue.status not in EDITABLE:
        raise IssueNotEditable(f"issue {issue_id} is {issue.status.value}: only a draft or scheduled issue can be edited")
    return issue


def _rerender(issue: Issue, settings: Settings, profile: ListProfile) -> None:
    """Render again now; a broken template leaves it unrendered, so the preview shows the error."""
    try:
        rendered = render_issue(issue, settings, profile)
    except TemplateError:
        issue.html = issue.text = issue.web_html = issue.rendered_at = None
        return
    issue.html, issue.text, issue.rendered_at = rendered.html, rendered.text, utcnow()
    issue.web_html = rendered.web_html


def _articles(session: Session, article_ids: Sequence[int], allowed_hidden: set[int]) -> list[Article]:
    ids = list(article_ids)
    if len(set(ids)) != len(ids):
        raise InvalidIssueEdit({"articles": "an article is listed twice"})
    if len(ids) > MAX_ARTICLES:
        raise InvalidIssueEdit({"articles": f"at most {MAX_ARTICLES} articles in one issue"})
    found = {a.id: a for a in session.scalars(select(Article).where(Article.id.in_(ids)))} if ids else {}
    missing = [str(i) for i in ids if i not in found]
    if missing:
        raise InvalidIssueEdit({"articles": f"there is no article {', '.join(missing)}"})
    hidden = [found[i].title for i in ids if found[i].hidden and i not in allowed_hidden]
    if hidden:
        raise InvalidIssueEdit({"articles": f"hidden articles cannot be added: {'; '.join(hidden)}"})
    return [found[i] for i in ids]


def _place(session: Session, issue: Issue, articles: list[Article]) -> None:
    # Delete the old rows first: (issue, article) is the key and positions change.
    issue.items.clear()
    session.flush()
    issue.items.extend(IssueArticle(article=a, position=i) for i, a in enumerate(articles))


def load_issue(sessions: sessionmaker[Session], issue_id: int) -> EditableIssue:
    with sessions() as session:
        issue = session.get(Issue, issue_id)
        if issue is None:
            raise IssueNotFound(f"there is no issue {issue_id}")
        return EditableIssue(
            id=issue.id, number=issue.number, week=issue.week or "", subject=issue.subject,
            preheader=issue.preheader or "", editor_note=issue.editor_note or "", status=issue.status,
            scheduled_at=issue.scheduled_at, articles=[view(a) for a in issue.articles],
            article_mode=issue.article_mode,
        )


def update_issue(
    sessions: sessionmaker[Session], settings: Settings, issue_id: int, *,
    subject: str | None = None, preheader: str | None = None, editor_note: str | None = None,
    article_mode: str | None = None,
) -> None:
    """Change the given fields (None: keep), then render again."""
    _check_fields(subject, preheader, editor_note, article_mode)
    profile = load_profile(sessions, settings)  # read before the write transaction (SQLite: one writer)
    with sessions.begin() as session:
        issue = _editable(session, issue_id)
        if subject is not None:
            issue.subject = _one_line(subject)
        if preheader is not None:
            issue.preheader = _one_line(preheader)
        if editor_note is not None:
            issue.editor_note = _note(editor_note)
        if article_mode is not None:
            issue.article_mode = article_mode
        _rerender(issue, settings, profile)


def set_issue_articles(sessions: sessionmaker[Session], settings: Settings, issue_id: int, article_ids: list[int]) -> None:
    """The issue's articles become exactly these, in this order; then it is rendered again.

    A hidden article may stay where it already is, but is never added.
    """
    profile = load_profile(sessions, settings)
    with sessions.begin() as session:
        issue = _editable(session, issue_id)
        current = {item.article_id for item in issue.items}
        articles = _articles(session, article_ids, allowed_hidden=current)
        _place(session, issue, articles)
        session.flush()
        session.refresh(issue, ["items"])
        _rerender(issue, settings, profile)


def move_article(sessions: sessionmaker[Session], settings: Settings, issue_id: int, article_id: int, delta: int) -> None:
    """Move one article up (delta < 0) or down; at either end it stays put."""
    order = [a.id for a in load_issue(sessions, issue_id).articles]
    if article_id not in order:
        raise InvalidIssueEdit({"articles": f"article {article_id} is not in this issue"})
    at = order.index(article_id)
    to = min(max(at + delta, 0), len(order) - 1)
    order.insert(to, order.pop(at))
    set_issue_articles(sessions, settings, issue_id, order)


def create_issue(sessions: sessionmaker[Session], settings: Settings, subject: str, article_ids: list[int]) -> int:
    """A new draft (no week: it is not the weekly cycle's) with these articles, rendered."""
    _check_fields(subject, None, None)
    profile = load_profile(sessions, settings)
    try:
        with sessions.begin() as session:
            articles = _articles(session, article_ids, allowed_hidden=set())
            number = (session.scalar(select(func.max(Issue.number))) or 0) + 1
            issue = Issue(number=number, week=None, subject=_one_line(subject), preheader="", editor_note="",
                          status=IssueStatus.DRAFT)
            issue.items = [IssueArticle(article=a, position=i) for i, a in enumerate(articles)]
            session.add(issue)
            session.flush()
            _rerender(issue, settings, profile)
            return issue.id
    except IntegrityError as exc:  # another issue took the number at the same moment
        raise InvalidIssueEdit({"subject": "another issue was created at the same moment; try again"}) from exc


def preview_issue(
    sessions: sessionmaker[Session], settings: Settings, issue_id: int, *,
    subject: str | None = None, preheader: str | None = None, editor_note: str | None = None,
    article_mode: str | None = None,
) -> RenderedIssue:
    """Render the issue as it would be with these (unsaved) values; nothing is stored.

    Any issue can be previewed so; TemplateError and InvalidIssueEdit are the caller's to show.
    """
    _check_fields(subject, preheader, editor_note, article_mode)
    profile = load_profile(sessions, settings)
    with sessions() as session:
        issue = session.get(Issue, issue_id)
        if issue is None:
            raise IssueNotFound(f"there is no issue {issue_id}")
        with session.no_autoflush:
            issue.subject = _one_line(subject) if subject is not None else issue.subject
            issue.preheader = _one_line(preheader) if preheader is not None else issue.preheader
            issue.editor_note = _note(editor_note) if editor_note is not None else issue.editor_note
            issue.article_mode = article_mode if article_mode is not None else issue.article_mode
            rendered = render_issue(issue, settings, profile)
        session.rollback()  # the changes above were only for this render
        return rendered


def addable_articles(sessions: sessionmaker[Session], issue_id: int, query: str = "", limit: int = 20) -> list[ArticleView]:
    """Visible articles not in this issue nor in any issue that has gone out, newest first;
    ``query`` matches title or author."""
    gone = (
        select(IssueArticle.article_id)
        .join(Issue, Issue.id == IssueArticle.issue_id)
        .where(IssueArticle.article_id == Article.id)
        .where((IssueArticle.issue_id == issue_id) | Issue.status.in_(GONE_OUT))
    )
    stmt = select(Article).where(Article.hidden == false(), ~exists(gone))
    condition = matches(query)
    if condition is not None:
        stmt = stmt.where(condition)
    stmt = stmt.order_by(Article.published_at.desc(), Article.id.desc()).limit(max(1, min(limit, 100)))
    with sessions() as session:
        return [view(a) for a in session.scalars(stmt)]
