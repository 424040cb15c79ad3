"""Loading parsed articles into the database: one transaction per file, idempotent.

An article's identity is its (author, title); re-ingesting an unchanged file changes nothing,
a changed one is updated in place, keeping the published time it was first given.
"""

from __future__ import annotations

import hashlib
import json
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import String, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from newsletter.db.engine import transaction
from newsletter.content.ingest.files import article_files, parse_file
from newsletter.content.ingest.parsed import IngestError, ParsedArticle
from newsletter.content.models import Article
from newsletter.db.base import utcnow

Outcome = Literal["added", "updated", "unchanged"]
# Fields a reader sees; a change in any of them makes the stored article "updated".
CONTENT_FIELDS = (
    "title", "author", "standfirst", "paragraphs", "pull_quotes", "body", "body_markdown",
    "image_url", "image_credit", "author_bio", "url",
)  # fmt: skip


# Images named by URL in an article are copied into our media store once, at ingest, outside the
# write transaction: blocks -> (blocks pointing at our copies, warnings). A callable, so content
# needs no import of the media package (newsletter.media.fetch.localise_images provides it).
LocaliseImages = Callable[[list[dict[str, Any]]], tuple[list[dict[str, Any]], list[str]]]


def has_images(body: list[dict[str, Any]], image_url: str = "") -> bool:
    """Whether an article has anything for ``LocaliseImages`` to copy: an image block or a feature image."""
    return bool(image_url.strip()) or any(block.get("kind") == "image" for block in body)


def localise_with_feature(
    images: LocaliseImages, body: list[dict[str, Any]], image_url: str
) -> tuple[list[dict[str, Any]], str, list[str]]:
    """The body's images and the feature image copied by the one localiser: the feature image goes
    through as one more image block at the end (so it is fetched once, even when the body shows the
    same picture) and comes back as its URL: ours, or the original when it could not be fetched."""
    if not image_url.strip():
        blocks, notes = images(body)
        return blocks, image_url, notes
    blocks, notes = images([*body, {"kind": "image", "src": image_url.strip()}])
    if len(blocks) != len(body) + 1:  # a localiser that dropped a block: keep the original
        return body, image_url, notes
    src = blocks[-1].get("src")
    return blocks[:-1], src if isinstance(src, str) and src else image_url, notes


@dataclass
class IngestReport:
    """What one ingest run did: titles per outcome, (file name, reason) per failed file, and
    warnings (an image that could not be copied keeps its original address)."""

    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    errors: list[tuple[str, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def ingest_path(
    session_factory: sessionmaker[Session],
    path: Path,
    *,
    now: datetime | None = None,
    progress: Callable[[int, int], None] | None = None,
    images: LocaliseImages | None = None,
) -> IngestReport:
    """Ingest one article file or every article file under a directory.

    A file that cannot be parsed is reported in ``errors`` and the others are still ingested.
    ``now`` is the published time given to new articles without a date of their own;
    ``progress(done, total)`` is called after each file. Raises IngestError when PATH itself
    is missing or not an article file.
    """
    now = now or utcnow()
    if now.tzinfo is None:
        raise ValueError("now must be an aware datetime")
    files = article_files(Path(path))
    report = IngestReport()
    for done, (name, file) in enumerate(files, start=1):
        try:
            article = parse_file(file)
            outcome = store(session_factory, article, now=now, images=images, warnings=report.warnings)
        except IngestError as exc:
            report.errors.append((name, exc.reason))
        else:
            getattr(report, outcome).append(article.title)
        if progress is not None:
            progress(done, len(files))
    return report


def store(
    session_factory: sessionmaker[Session],
    article: ParsedArticle,
    *,
    now: datetime,
    images: LocaliseImages | None = None,
    warnings: list[str] | None = None,
) -> Outcome:
    """Add, update or leave alone the row for ARTICLE, in its own transaction; with ``images``,
    a new or changed article's images are copied into the media store first."""
    _check_lengths(article)
    # The hash is of the article as written, so re-ingesting an unchanged file stays "unchanged"
    # (and fetches nothing) although the stored body points at our copies.
    digest = content_hash(article)
    if images is not None and has_images(article.body, article.image_url):
        with session_factory() as session:
            if session.scalar(select(Article.content_hash).where(Article.uid == _uid_of(article))) == digest:
                return "unchanged"
        body, image_url, notes = localise_with_feature(images, article.body, article.image_url)
        article = replace(article, body=body, image_url=image_url)
        if warnings is not None:
            warnings.extend(f"{article.title}: {note}" for note in notes)
    for attempt in range(2):
        try:
            with transaction(session_factory) as session:
                return _upsert(session, article, now, digest)
        except IntegrityError:
            # Another ingest added the same article between our look-up and insert: look again.
            if attempt:
                raise
    raise AssertionError("unreachable")


def article_uid(author: str, title: str) -> str:
    """The stable identity of an article: a hash of its normalised author and title."""
    return _sha256([_identity_text(author), _identity_text(title)])


def content_hash(article: ParsedArticle) -> str:
    """A hash of everything a reader sees, plus the file's own date when it gives one."""
    content: dict[str, object] = {name: getattr(article, name) for name in CONTENT_FIELDS}
    content["published_at"] = article.published_at.isoformat() if article.published_at else None
    return _sha256(content)


def _uid_of(article: ParsedArticle) -> str:
    return article_uid(article.author, article.title)


def _upsert(session: Session, article: ParsedArticle, now: datetime, digest: str) -> Outcome:
    uid = _uid_of(article)
    row = session.scalars(select(Article).where(Article.uid == uid)).one_or_none()
    if row is not None and row.content_hash == digest:
        return "unchanged"
    values = {name: getattr(article, name) for name in CONTENT_FIELDS}
    values.update(source=article.source, content_hash=digest)
    if row is None:
        session.add(Article(uid=uid, published_at=article.published_at or now, **values))
        return "added"
    for name, value in values.items():
        setattr(row, name, value)
    if article.published_at is not None:
        row.published_at = article.published_at
    return "updated"


def _check_lengths(article: ParsedArticle) -> None:
    # PostgreSQL rejects an over-long value where SQLite would store it: check first, for both.
    for name in (f.name for f in fields(article)):
        value = getattr(article, name)
        column = Article.__table__.columns.get(name)
        if column is None or not isinstance(column.type, String) or column.type.length is None:
            continue
        limit = column.type.length
        if isinstance(value, str) and len(value) > limit:
            what = name.replace("_", " ")
            raise IngestError(article.source, f"the {what} is longer than {limit} characters")


def _identity_text(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).casefold()
    text = text.translate(str.maketrans("‘’“”", "''\"\""))
    return " ".join(text.split())


def _sha256(value: object) -> str:
    data = json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(data.encode("utf-8")).hexdigest()
