"""The content domain's tables."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    false,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from newsletter.db.base import Base, UTCDateTime, created, enum_type, intpk, jsonlist, when


class Article(Base):
    __tablename__ = "article"

    id: Mapped[intpk]
    uid: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    title: Mapped[str] = mapped_column(String(500), nullable=False)
    author: Mapped[str] = mapped_column(String(200), default="", nullable=False)
    published_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    standfirst: Mapped[str] = mapped_column(Text, default="", nullable=False)
    # The plain-text view of ``body``, kept for their readers (previews, the API, old templates).
    paragraphs: Mapped[jsonlist]
    pull_quotes: Mapped[jsonlist]
    # The body as typed blocks (newsletter.content.blocks); [] on rows written only with paragraphs.
    body: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list, server_default=text("'[]'"), nullable=False)
    # The Markdown the writer typed, shown again in the edit form; "" for seed and feed articles.
    body_markdown: Mapped[str] = mapped_column(Text, default="", server_default="", nullable=False)
    image_url: Mapped[str] = mapped_column(String(1000), default="", nullable=False)
    image_credit: Mapped[str] = mapped_column(String(300), default="", nullable=False)
    author_bio: Mapped[str] = mapped_column(Text, default="", nullable=False)
    url: Mapped[str] = mapped_column(String(1000), default="", nullable=False)
    source: Mapped[str] = mapped_column(String(1000), default="", nullable=False)
    source_id: Mapped[int | None] = mapped_column(ForeignKey("source.id", ondelete="SET NULL"))
    content_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    created_at: Mapped[created]
    # Hidden by the editor: never composed into an issue nor offered in the issue editor.
    hidden: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false(), nullable=False)


class ArticleRevision(Base):
    """One saved state of an article's title and Markdown body, as the writer typed it (the desk's
    draft history); a restore is itself a new revision. Kept to the newest few per article."""

    __tablename__ = "article_revision"
    __table_args__ = (Index("ix_article_revision_article_saved", "article_id", "saved_at"),)

    id: Mapped[intpk]
    article_id: Mapped[int] = mapped_column(ForeignKey("article.id", ondelete="CASCADE"), nullable=False)
    title: Mapped[str] = mapped_column(String(500), nullable=False)
    body_markdown: Mapped[str] = mapped_column(Text, nullable=False)
    saved_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    # The account's e-mail address as text, so the history outlives a removed account.
    saved_by: Mapped[str] = mapped_column(String(320), default="", server_default="", nullable=False)
    # Written by autosave: the next autosave soon after by the same writer updates it in place.
    autosaved: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false(), nullable=False)


class SourceKind(str, enum.Enum):
    FEED = "feed"  # RSS 2.0 or Atom over http(s)
    FOLDER = "folder"  # seed-format and Markdown files


class Source(Base):
    """Where articles come from; each is polled on its own interval."""

    __tablename__ = "source"
    __table_args__ = (Index("ix_source_list", "list_id"),)

    id: Mapped[intpk]
    kind: Mapped[SourceKind] = mapped_column(enum_type(SourceKind, "source_kind"), nullable=False)
    location: Mapped[str] = mapped_column(String(1000), unique=True, nullable=False)  # URL or absolute path
    title: Mapped[str] = mapped_column(String(300), default="", nullable=False)
    interval_minutes: Mapped[int] = mapped_column(Integer, default=60, nullable=False)
    created_at: Mapped[created]
    last_polled_at: Mapped[when]
    last_ok_at: Mapped[when]
    last_error: Mapped[str | None] = mapped_column(Text)
    # The newsletter its articles are composed into (lists.models.FIRST_LIST_ID unless told).
    list_id: Mapped[int] = mapped_column(ForeignKey("mailing_list.id", ondelete="RESTRICT", name="fk_source_list_id"),
                                         default=1, server_default="1", nullable=False)
