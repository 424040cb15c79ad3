"""The issues domain's tables."""

from __future__ import annotations

import enum

from sqlalchemy import (
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from newsletter.content.models import Article
from newsletter.db.base import Base, created, enum_type, intpk, when
from newsletter.lists.models import FIRST_LIST_ID


class IssueStatus(str, enum.Enum):
    DRAFT = "draft"
    SCHEDULED = "scheduled"
    SENDING = "sending"
    PAUSED = "paused"
    SENT = "sent"
    CANCELLED = "cancelled"


class Issue(Base):
    __tablename__ = "issue"
    # A week is composed once per list; the list is the key other code joins issues on.
    __table_args__ = (UniqueConstraint("list_id", "week", name="uq_issue_list_week"),
                      Index("ix_issue_list", "list_id", "id"))

    id: Mapped[intpk]
    number: Mapped[int] = mapped_column(Integer, unique=True, nullable=False)
    week: Mapped[str | None] = mapped_column(String(10))  # ISO week "2026-W48"
    list_id: Mapped[int] = mapped_column(ForeignKey("mailing_list.id", ondelete="RESTRICT", name="fk_issue_list_id"),
                                         default=FIRST_LIST_ID, server_default="1", nullable=False)
    subject: Mapped[str] = mapped_column(String(300), nullable=False)
    preheader: Mapped[str] = mapped_column(String(300), default="", nullable=False)
    editor_note: Mapped[str] = mapped_column(Text, default="", server_default="", nullable=False)  # atop the email
    status: Mapped[IssueStatus] = mapped_column(
        enum_type(IssueStatus, "issue_status"), default=IssueStatus.DRAFT, nullable=False
    )
    period_start: Mapped[when]
    period_end: Mapped[when]
    created_at: Mapped[created]
    scheduled_at: Mapped[when]
    sent_at: Mapped[when]
    approved_at: Mapped[when]
    # Rendered once, with slot markers left in for the per-reader values.
    html: Mapped[str | None] = mapped_column(Text)
    text: Mapped[str | None] = mapped_column(Text)
    rendered_at: Mapped[when]
    tracking: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false(), nullable=False)  # at queue
    # "full": whole articles in the email; "excerpt": the opening and a link to the web version.
    article_mode: Mapped[str] = mapped_column(String(10), default="full", server_default="full", nullable=False)
    # The web version (archive) when it differs from ``html`` (excerpt mode): whole articles.
    web_html: Mapped[str | None] = mapped_column(Text)
    # The segment the send went to (None: the whole list), kept so later waves and a recovered
    # send add only that segment's readers; a segment an issue went to cannot be deleted.
    segment_id: Mapped[int | None] = mapped_column(ForeignKey("segment.id", ondelete="RESTRICT"))

    items: Mapped[list[IssueArticle]] = relationship(
        back_populates="issue", order_by="IssueArticle.position", cascade="all, delete-orphan"
    )

    @property
    def articles(self) -> list[Article]:
        return [item.article for item in self.items]


class IssueArticle(Base):
    __tablename__ = "issue_article"
    __table_args__ = (UniqueConstraint("issue_id", "article_id"),)

    issue_id: Mapped[int] = mapped_column(ForeignKey("issue.id", ondelete="CASCADE"), primary_key=True)
    article_id: Mapped[int] = mapped_column(ForeignKey("article.id", ondelete="RESTRICT"), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, nullable=False)

    issue: Mapped[Issue] = relationship(back_populates="items")
    article: Mapped[Article] = relationship(lazy="joined")


class IssueLink(Base):
    """A tracked issue's links, numbered in the order they appear: a click names (issue, idx)."""

    __tablename__ = "issue_link"

    issue_id: Mapped[int] = mapped_column(ForeignKey("issue.id", ondelete="CASCADE"), primary_key=True)
    idx: Mapped[int] = mapped_column(Integer, primary_key=True)
    url: Mapped[str] = mapped_column(Text, nullable=False)


class TrackingEvent(Base):
    """One open or click of a tracked issue; the reader is forgotten (NULL) when erased."""

    __tablename__ = "tracking_event"
    __table_args__ = (Index("ix_tracking_event_count", "issue_id", "kind", "subscriber_id"),)

    id: Mapped[intpk]
    issue_id: Mapped[int] = mapped_column(ForeignKey("issue.id", ondelete="CASCADE"), nullable=False)
    subscriber_id: Mapped[int | None] = mapped_column(ForeignKey("subscriber.id", ondelete="SET NULL"))
    kind: Mapped[str] = mapped_column(String(10), nullable=False)  # "open" or "click"
    link_idx: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[created]




# -- list settings and design (issue 7)


class ListProfileRecord(Base):
    """The editor's list settings and design: one row (id 1); NULL means "use the Settings default"."""

    __tablename__ = "list_profile"

    id: Mapped[intpk]
    list_name: Mapped[str | None] = mapped_column(String(100))
    from_address: Mapped[str | None] = mapped_column(String(320))
    rate_per_second: Mapped[float | None]
    rate_per_hour: Mapped[int | None] = mapped_column(Integer)
    logo_url: Mapped[str | None] = mapped_column(String(2000))
    accent_color: Mapped[str | None] = mapped_column(String(7))
    font_family: Mapped[str | None] = mapped_column(String(200))
    footer_text: Mapped[str | None] = mapped_column(Text)
    custom_template: Mapped[str | None] = mapped_column(Text)
    template_draft: Mapped[str | None] = mapped_column(Text)  # uploaded and valid, not yet in use
    tracking_enabled: Mapped[bool | None] = mapped_column(Boolean)
    welcome_enabled: Mapped[bool | None] = mapped_column(Boolean)
    welcome_subject: Mapped[str | None] = mapped_column(String(200))
    welcome_body_markdown: Mapped[str | None] = mapped_column(Text)
    postal_address: Mapped[str | None] = mapped_column(Text)  # in every email's footer (anti-spam laws)
    updated_at: Mapped[when]
