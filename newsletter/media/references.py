"""Which of our own images an issue's articles name, and which of those are missing.

Every column of each article is searched (Markdown, the blocks' JSON, the lead image), so the
check holds whatever shape the article's body takes. Only our own /media/ URLs are checked:
that is a file lookup; an external image would be a fetch, too slow and too leaky for a check.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from newsletter.content.blocks import safe_url
from newsletter.content.models import Article
from newsletter.issues.models import IssueArticle
from newsletter.media.store import MEDIA_PATH, Media

_URL_END = r"[^\s\"'()<>\\\]]+"


@dataclass(frozen=True)
class MissingImage:
    article: str  # its title
    url: str


def _texts(article: Article) -> str:
    parts: list[str] = []
    for column in Article.__table__.columns:
        value = getattr(article, column.key, None)
        if isinstance(value, str):
            parts.append(value)
        elif isinstance(value, (list, dict)):
            parts.append(json.dumps(value, ensure_ascii=False))
    return "\n".join(parts)


def media_urls(text: str, base_url: str) -> list[str]:
    """Our own /media/ URLs in a text, in order, each once."""
    pattern = re.escape(base_url.rstrip("/") + MEDIA_PATH) + _URL_END
    return list(dict.fromkeys(re.findall(pattern, text)))


def _articles(session: Session, issue_id: int) -> list[Article]:
    return list(session.scalars(
        select(Article).join(IssueArticle, IssueArticle.article_id == Article.id)
        .where(IssueArticle.issue_id == issue_id).order_by(IssueArticle.position)
    ).all())


def unusable_images(sessions: sessionmaker[Session], issue_id: int) -> list[MissingImage]:
    """Each image (feature or in the body) an article of the issue names by an address no email can
    load (relative, or not http(s)): the render leaves it out, and preflight says so."""
    with sessions() as session:
        found = [(article.title, [article.image_url or ""] + [
            str(block.get("src", "")) for block in article.body or [] if isinstance(block, dict)
            and block.get("kind") == "image"]) for article in _articles(session, issue_id)]
    return [MissingImage(title, url) for title, urls in found for url in urls
            if url.strip() and not safe_url(url, mailto=False)]


def missing_images(sessions: sessionmaker[Session], media: Media, issue_id: int) -> list[MissingImage]:
    """Each of our images an article of the issue names but the store does not have."""
    with sessions() as session:
        found = [(article.title, _texts(article)) for article in _articles(session, issue_id)]
    return [MissingImage(title, url) for title, text in found for url in media_urls(text, media.base_url)
            if not media.is_ours(url) or media.missing(url)]
