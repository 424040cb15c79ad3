"""The writing desk's rules: every save of an article keeps a revision of its title and Markdown body
(as typed, links and all), the writer can look at one and restore it, and an unsaved draft can be
previewed as the email shows it.

- A save that changes nothing adds no revision, and an autosave within ``COALESCE`` of the
  writer's own previous autosave updates that one: a writing session leaves one revision, not one
  per pause, while what stood before the session (and every explicit save) is kept.
- Restoring is a save of the old text, so it is itself a new revision and can be undone the same way.
- Only the newest ``MAX_REVISIONS`` per article are kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from newsletter.config import Settings
from newsletter.content.articles import (
    ArticleInput,
    create_article,
    get_article,
    parse_input,
    update_article,
)
from newsletter.content.ingest.load import article_uid, content_hash
from newsletter.content.models import Article, ArticleRevision
from newsletter.db.base import utcnow
from newsletter.errors import NotFound

MAX_REVISIONS = 50
LISTED = 20  # how many the article page lists
COALESCE = timedelta(minutes=2)


class RevisionNotFound(NotFound):
    pass


@dataclass(frozen=True)
class RevisionView:
    id: int
    article_id: int
    title: str
    body_markdown: str
    saved_at: datetime
    saved_by: str
    autosaved: bool


@dataclass(frozen=True)
class Saved:
    """What a save did: the article's newest revision, and whether this save added it."""

    revision: RevisionView
    added: bool


def _view(row: ArticleRevision) -> RevisionView:
    return RevisionView(id=row.id, article_id=row.article_id, title=row.title, body_markdown=row.body_markdown,
                        saved_at=row.saved_at, saved_by=row.saved_by, autosaved=row.autosaved)


def _newest(session: Session, article_id: int) -> ArticleRevision | None:
    return session.scalar(
        select(ArticleRevision).where(ArticleRevision.article_id == article_id)
        .order_by(ArticleRevision.saved_at.desc(), ArticleRevision.id.desc()).limit(1)
    )


def _record(
    session: Session, article_id: int, title: str, body: str, saved_by: str, now: datetime, autosave: bool = False
) -> Saved:
    newest = _newest(session, article_id)
    if newest is not None and (newest.title, newest.body_markdown) == (title, body):
        return Saved(_view(newest), added=False)
    if (autosave and newest is not None and newest.autosaved and newest.saved_by == saved_by
            and timedelta(0) <= now - newest.saved_at < COALESCE):
        newest.title, newest.body_markdown, newest.saved_at = title, body, now
        session.flush()
        return Saved(_view(newest), added=False)
    row = ArticleRevision(article_id=article_id, title=title, body_markdown=body, saved_at=now, saved_by=saved_by,
                          autosaved=autosave)
    session.add(row)
    session.flush()
    kept = (
        select(ArticleRevision.id).where(ArticleRevision.article_id == article_id)
        .order_by(ArticleRevision.saved_at.desc(), ArticleRevision.id.desc()).limit(MAX_REVISIONS)
    )
    session.execute(
        delete(ArticleRevision)
        .where(ArticleRevision.article_id == article_id, ArticleRevision.id.not_in(kept.scalar_subquery()))
        .execution_options(synchronize_session=False)
    )
    return Saved(_view(row), added=True)


def create(sessions: sessionmaker[Session], data: ArticleInput, saved_by: str, now: datetime | None = None) -> int:
    """A new article (see ``articles.create_article``) with its first revision."""
    article_id = create_article(sessions, data)
    with sessions.begin() as session:
        _record(session, article_id, data.title, data.body_markdown, saved_by, now or utcnow())
    return article_id


def save(
    sessions: sessionmaker[Session], article_id: int, data: ArticleInput, saved_by: str, now: datetime | None = None,
    *, autosave: bool = False,
) -> Saved:
    """Save the article as typed (InvalidArticle, ArticleNotFound as ``update_article``) and keep
    the revision; the article is saved first, so a failed save leaves no revision behind."""
    update_article(sessions, article_id, data)
    with sessions.begin() as session:
        return _record(session, article_id, data.title, data.body_markdown, saved_by, now or utcnow(), autosave)


def list_revisions(sessions: sessionmaker[Session], article_id: int, limit: int = LISTED) -> list[RevisionView]:
    """Newest first."""
    with sessions() as session:
        rows = session.scalars(
            select(ArticleRevision).where(ArticleRevision.article_id == article_id)
            .order_by(ArticleRevision.saved_at.desc(), ArticleRevision.id.desc()).limit(max(1, limit))
        )
        return [_view(r) for r in rows]


def get_revision(sessions: sessionmaker[Session], article_id: int, revision_id: int) -> RevisionView:
    with sessions() as session:
        row = session.get(ArticleRevision, revision_id)
        if row is None or row.article_id != article_id:  # never another article's, whatever the URL says
            raise RevisionNotFound(f"article {article_id} has no revision {revision_id}")
        return _view(row)


def restore(
    sessions: sessionmaker[Session], article_id: int, revision_id: int, saved_by: str, now: datetime | None = None
) -> Saved:
    """Put a revision's title and body back (the other fields stay as they are now): a new revision."""
    old = get_revision(sessions, article_id, revision_id)
    current = get_article(sessions, article_id)
    data = ArticleInput(title=old.title, body_markdown=old.body_markdown, author=current.author,
                        standfirst=current.standfirst, url=current.url, image_url=current.image_url,
                        image_credit=current.image_credit)
    return save(sessions, article_id, data, saved_by, now)


def draft_article(data: ArticleInput, now: datetime | None = None) -> Article:
    """The typed values as an (unsaved, never added) Article, parsed as saving would parse them;
    InvalidArticle says what is wrong."""
    parsed = parse_input(data)
    return Article(
        uid=article_uid(parsed.author, parsed.title), title=parsed.title, author=parsed.author,
        published_at=data.published_at or now or utcnow(), standfirst=parsed.standfirst,
        paragraphs=parsed.paragraphs, pull_quotes=parsed.pull_quotes, body=parsed.body,
        body_markdown=data.body_markdown, image_url=parsed.image_url,
        image_credit=parsed.image_credit, author_bio=parsed.author_bio, url=parsed.url, source="",
        content_hash=content_hash(parsed), hidden=False,
    )


def preview_html(sessions: sessionmaker[Session], settings: Settings, data: ArticleInput) -> str:
    """The draft as the email shows it: alone in an issue, rendered by the issue renderer with the
    list's design, filled for a browser. Nothing is stored. InvalidArticle, render.TemplateError."""
    # Imported here: the renderer imports this domain's models.
    from newsletter.issues.list_profile import load_profile
    from newsletter.issues.models import Issue, IssueArticle
    from newsletter.render.issue import fill_html, render_issue

    issue = Issue(number=0, subject=data.title or "Preview", preheader="", editor_note="")
    issue.items = [IssueArticle(position=0, article=draft_article(data))]
    rendered = render_issue(issue, settings, load_profile(sessions, settings))
    return fill_html(rendered.html, None, base_url=settings.base_url)
