"""The editor's articles: list and search them, read one, write one in Markdown, edit, hide.

Bodies are CommonMark, turned into blocks by the Markdown ingest's own parser, so an article
written here is stored exactly as the same text ingested from a ``.md`` file; the Markdown as
typed is kept too, so the edit form shows it again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml
from sqlalchemy import ColumnElement, Select, false, func, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from newsletter.content import blocks
from newsletter.content.ingest.markdown_blocks import blocks_markdown
from newsletter.errors import InvalidInput, NotFound
from newsletter.content.ingest.load import article_uid, content_hash
from newsletter.content.ingest.markdown import parse_markdown_text
from newsletter.content.ingest.parsed import IngestError, ParsedArticle
from newsletter.content.models import Article
from newsletter.db.base import utcnow
from newsletter.issues.models import Issue, IssueArticle, IssueStatus
from newsletter.media.store import MEDIA_NAME, MEDIA_PATH

# The column sizes (PostgreSQL refuses longer values; SQLite would keep them) and sane caps for Text.
LIMITS = {"title": 500, "author": 200, "standfirst": 2000, "url": 1000, "body_markdown": 100_000, "image_url": 1000,
          "image_credit": 300}
LABELS = {"title": "Title", "author": "Author", "standfirst": "Standfirst", "url": "URL", "body_markdown": "Body",
          "image_url": "Feature image", "image_credit": "Image credit"}
SEARCH_MAX = 200
MAX_LIMIT = 500
_EDITOR_SOURCE = Path("article written in the editor")


class ArticleNotFound(NotFound):
    pass


class InvalidArticle(InvalidInput):
    """What is wrong, per field (``errors``: field name -> message), so pages show each beside its field."""

    def __init__(self, errors: dict[str, str]) -> None:
        self.errors = dict(errors)
        super().__init__("; ".join(f"{LABELS.get(k, k)}: {v}" for k, v in self.errors.items()))


@dataclass(frozen=True)
class ArticleInput:
    title: str
    body_markdown: str
    author: str = ""
    standfirst: str = ""
    url: str = ""
    published_at: datetime | None = None
    # The feature image shown above the body: an absolute http(s) URL (an upload's /media/ one, or
    # anyone's), and who to credit for it; "" for none.
    image_url: str = ""
    image_credit: str = ""


@dataclass(frozen=True)
class ArticleView:
    id: int
    title: str
    author: str
    standfirst: str
    published_at: datetime
    url: str
    hidden: bool
    paragraphs: list[str]
    source: str
    # The body as Markdown for the edit form: as the writer typed it, else made from the blocks.
    body_markdown: str = ""
    image_url: str = ""
    image_credit: str = ""
    # The body as typed blocks in their JSON form (blocks.serialise), for the API.
    body: list[dict[str, Any]] = field(default_factory=list)


def article_blocks(article: Article) -> list[blocks.Block]:
    """The article's body; a row written with paragraphs only (older code) is read as blocks."""
    body = blocks.parse(article.body)
    return body or blocks.from_plain(list(article.paragraphs or []), list(article.pull_quotes or []))


def body_markdown(article: Article) -> str:
    """The Markdown the edit form shows: the writer's own, or the stored blocks written as Markdown."""
    return article.body_markdown or blocks_markdown(article_blocks(article))


def view(article: Article) -> ArticleView:
    return ArticleView(
        id=article.id,
        title=article.title,
        author=article.author,
        standfirst=article.standfirst,
        published_at=article.published_at,
        url=article.url,
        hidden=article.hidden,
        paragraphs=list(article.paragraphs or []),
        source=article.source,
        body_markdown=body_markdown(article),
        image_url=article.image_url,
        image_credit=article.image_credit,
        body=blocks.serialise(article_blocks(article)),
    )


def _is_web_url(url: str) -> bool:
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname) and not any(c.isspace() for c in url)


def absolute_media_url(url: str, base_url: str) -> str:
    """A path to one of our images as typed or pasted from the site (``/media/<key>.jpg``) made the
    absolute URL an email needs; any other value is returned as it is, for ``parse_input`` to judge."""
    path = url.strip()
    if path.startswith(MEDIA_PATH) and MEDIA_NAME.fullmatch(path[len(MEDIA_PATH):]):
        return base_url.rstrip("/") + path
    return url


def parse_input(data: ArticleInput) -> ParsedArticle:
    """Check every field and parse the body; InvalidArticle lists each problem by field."""
    errors: dict[str, str] = {}
    values = {"title": data.title, "author": data.author, "standfirst": data.standfirst, "url": data.url,
              "body_markdown": data.body_markdown, "image_url": data.image_url, "image_credit": data.image_credit}
    for name, value in values.items():
        if len(value) > LIMITS[name]:
            errors[name] = f"at most {LIMITS[name]:,} characters (this is {len(value):,})"
    if "title" not in errors and not data.title.strip():
        errors["title"] = "enter a title"
    if "body_markdown" not in errors and not data.body_markdown.strip():
        errors["body_markdown"] = "write at least one paragraph"
    url = data.url.strip()
    if url and "url" not in errors and not _is_web_url(url):
        errors["url"] = "must be a web address starting with http:// or https://"
    image_url = data.image_url.strip()
    if image_url and "image_url" not in errors and not _is_web_url(image_url):
        errors["image_url"] = ("must be a web address starting with http:// or https://, or one of our own "
                               "/media/ images: upload one, or paste its address")
    if data.published_at is not None and data.published_at.tzinfo is None:
        errors["published_at"] = "give the time with its time zone"
    if errors:
        raise InvalidArticle(errors)
    # Front matter written by yaml.safe_dump quotes whatever the editor typed, so the Markdown
    # ingest reads exactly these values (and cleans them as it cleans files).
    meta = {"title": data.title, "author": data.author, "summary": data.standfirst, "url": url,
            "image": image_url, "credit": data.image_credit}
    text = f"---\n{yaml.safe_dump(meta, allow_unicode=True, sort_keys=False)}---\n{data.body_markdown}\n"
    try:
        parsed = parse_markdown_text(text, _EDITOR_SOURCE)
    except IngestError as exc:
        field = "title" if "title" in exc.reason else "body_markdown"
        raise InvalidArticle({field: exc.reason.replace("after the front matter", "in the body")}) from exc
    return parsed


def matches(text: str) -> ColumnElement[bool] | None:
    """Title or author contains ``text`` (case-insensitive, wildcards literal); None for no text."""
    text = " ".join(text.split())[:SEARCH_MAX].lower()
    if not text:
        return None
    pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    return or_(func.lower(Article.title).like(pattern, escape="\\"),
               func.lower(Article.author).like(pattern, escape="\\"))


def _search(query: Select[Article], text: str, include_hidden: bool) -> Select[Article]:
    condition = matches(text)
    if condition is not None:
        query = query.where(condition)
    if not include_hidden:
        query = query.where(Article.hidden == false())
    return query


def list_articles(
    sessions: sessionmaker[Session], query: str = "", include_hidden: bool = True, limit: int = 50, offset: int = 0
) -> list[ArticleView]:
    """Newest first; ``query`` matches title or author, case-insensitively."""
    stmt = _search(select(Article), query, include_hidden)
    stmt = stmt.order_by(Article.published_at.desc(), Article.id.desc())
    stmt = stmt.limit(max(0, min(limit, MAX_LIMIT))).offset(max(0, offset))
    with sessions() as session:
        return [view(a) for a in session.scalars(stmt)]


def count_articles(sessions: sessionmaker[Session], query: str = "", include_hidden: bool = True) -> int:
    stmt = _search(select(Article), query, include_hidden)
    with sessions() as session:
        return session.scalar(select(func.count()).select_from(stmt.subquery())) or 0


def _get(session: Session, article_id: int) -> Article:
    article = session.get(Article, article_id)
    if article is None:
        raise ArticleNotFound(f"there is no article {article_id}")
    return article


def get_article(sessions: sessionmaker[Session], article_id: int) -> ArticleView:
    with sessions() as session:
        return view(_get(session, article_id))


def create_article(sessions: sessionmaker[Session], data: ArticleInput) -> int:
    """A new article; the same author and title as an existing one is refused (ingest's identity)."""
    parsed = parse_input(data)
    uid = article_uid(parsed.author, parsed.title)
    with sessions.begin() as session:
        if session.scalar(select(Article.id).where(Article.uid == uid)) is not None:
            raise InvalidArticle({"title": "an article with this title and author already exists"})
        article = Article(
            uid=uid,
            title=parsed.title,
            author=parsed.author,
            published_at=data.published_at or utcnow(),
            standfirst=parsed.standfirst,
            paragraphs=parsed.paragraphs,
            pull_quotes=parsed.pull_quotes,
            body=parsed.body,
            body_markdown=data.body_markdown,
            url=parsed.url,
            image_url=parsed.image_url,
            image_credit=parsed.image_credit,
            content_hash=content_hash(parsed),
        )
        session.add(article)
        session.flush()
        return article.id


def update_article(sessions: sessionmaker[Session], article_id: int, data: ArticleInput) -> None:
    """Change what the reader sees. The identity and content hash stay those of the source, so
    re-ingesting an unchanged source file keeps the editor's changes; a changed file replaces them."""
    parsed = parse_input(data)
    with sessions.begin() as session:
        article = _get(session, article_id)
        article.title, article.author = parsed.title, parsed.author
        article.standfirst, article.url = parsed.standfirst, parsed.url
        article.image_url, article.image_credit = parsed.image_url, parsed.image_credit
        article.paragraphs, article.pull_quotes = parsed.paragraphs, parsed.pull_quotes
        article.body, article.body_markdown = parsed.body, data.body_markdown
        if data.published_at is not None:
            article.published_at = data.published_at
        # Drafts holding it are rendered again when next shown or sent; what went out stays as sent.
        session.execute(
            update(Issue)
            .where(Issue.status.in_([IssueStatus.DRAFT, IssueStatus.SCHEDULED]),
                   Issue.id.in_(select(IssueArticle.issue_id).where(IssueArticle.article_id == article_id)))
            .values(html=None, text=None, rendered_at=None)
        )


def set_hidden(sessions: sessionmaker[Session], article_id: int, hidden: bool) -> None:
    """A hidden article is never composed into an issue nor offered in the issue editor."""
    with sessions.begin() as session:
        _get(session, article_id).hidden = hidden
