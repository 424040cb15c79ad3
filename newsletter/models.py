"""Typed SQLAlchemy 2.0 models: the four tables the pipeline moves through.

The Delivery table is the send queue; there is no second queue beside it.
"""

from __future__ import annotations

import enum
from datetime import datetime, timezone
from typing import Annotated, Any

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Enum,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class UTCDateTime(TypeDecorator[datetime]):
    """Stores naive UTC, returns aware UTC: the same on SQLite (no zones) and PostgreSQL."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; use an aware UTC datetime")
        return value.astimezone(timezone.utc).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return None if value is None else value.replace(tzinfo=timezone.utc)


# Shared column types (as warehouse does) so every table spells them the same way.
intpk = Annotated[int, mapped_column(Integer, primary_key=True)]
created = Annotated[datetime, mapped_column(UTCDateTime, default=utcnow, nullable=False)]
when = Annotated[datetime | None, mapped_column(UTCDateTime, nullable=True)]
jsonlist = Annotated[list[str], mapped_column(JSON, default=list, nullable=False)]


class Base(DeclarativeBase):
    pass


def _enum(cls: type[enum.Enum], name: str) -> Enum:
    # Stored as plain strings (no native ENUM) so migrations stay simple on both engines.
    return Enum(cls, name=name, native_enum=False, length=20, values_callable=lambda e: [m.value for m in e])


class SubscriberStatus(str, enum.Enum):
    PENDING = "pending"
    ACTIVE = "active"
    UNSUBSCRIBED = "unsubscribed"
    BOUNCED = "bounced"
    COMPLAINED = "complained"


class IssueStatus(str, enum.Enum):
    DRAFT = "draft"
    SCHEDULED = "scheduled"
    SENDING = "sending"
    PAUSED = "paused"
    SENT = "sent"
    CANCELLED = "cancelled"


class DeliveryStatus(str, enum.Enum):
    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    DEFERRED = "deferred"
    FAILED = "failed"
    BOUNCED = "bounced"
    SKIPPED = "skipped"


class Subscriber(Base):
    __tablename__ = "subscriber"

    id: Mapped[intpk]
    email: Mapped[str] = mapped_column(String(320), unique=True, nullable=False)
    name: Mapped[str] = mapped_column(String(200), default="", nullable=False)
    status: Mapped[SubscriberStatus] = mapped_column(
        _enum(SubscriberStatus, "subscriber_status"), default=SubscriberStatus.PENDING, nullable=False
    )
    source: Mapped[str] = mapped_column(String(50), default="web", nullable=False)
    time_zone: Mapped[str | None] = mapped_column(String(64))
    attributes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict, nullable=False)
    created_at: Mapped[created]
    confirmed_at: Mapped[when]
    unsubscribed_at: Mapped[when]
    confirmations_sent: Mapped[int] = mapped_column(Integer, default=0, nullable=False)


class Article(Base):
    __tablename__ = "article"

    id: Mapped[intpk]
    uid: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    title: Mapped[str] = mapped_column(String(500), nullable=False)
    author: Mapped[str] = mapped_column(String(200), default="", nullable=False)
    published_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    standfirst: Mapped[str] = mapped_column(Text, default="", nullable=False)
    paragraphs: Mapped[jsonlist]
    pull_quotes: Mapped[jsonlist]
    image_url: Mapped[str] = mapped_column(String(1000), default="", nullable=False)
    image_credit: Mapped[str] = mapped_column(String(300), default="", nullable=False)
    author_bio: Mapped[str] = mapped_column(Text, default="", nullable=False)
    url: Mapped[str] = mapped_column(String(1000), default="", nullable=False)
    source: Mapped[str] = mapped_column(String(1000), default="", nullable=False)
    content_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    created_at: Mapped[created]


class Issue(Base):
    __tablename__ = "issue"

    id: Mapped[intpk]
    number: Mapped[int] = mapped_column(Integer, unique=True, nullable=False)
    week: Mapped[str | None] = mapped_column(String(10), unique=True)  # ISO week "2026-W48"
    subject: Mapped[str] = mapped_column(String(300), nullable=False)
    preheader: Mapped[str] = mapped_column(String(300), default="", nullable=False)
    status: Mapped[IssueStatus] = mapped_column(
        _enum(IssueStatus, "issue_status"), default=IssueStatus.DRAFT, nullable=False
    )
    period_start: Mapped[when]
    period_end: Mapped[when]
    created_at: Mapped[created]
    scheduled_at: Mapped[when]
    sent_at: Mapped[when]
    # Rendered once, with slot markers left in for the per-reader values.
    html: Mapped[str | None] = mapped_column(Text)
    text: Mapped[str | None] = mapped_column(Text)
    rendered_at: Mapped[when]

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


class Delivery(Base):
    __tablename__ = "delivery"
    __table_args__ = (
        UniqueConstraint("issue_id", "subscriber_id"),
        # Claims walk queued rows by id from where the worker stopped (a keyset, not OFFSET or a
        # rescan): the partial index holds only queued rows, so it shrinks as the send goes on.
        Index("ix_delivery_queued", "id", sqlite_where=text("status = 'queued'"),
              postgresql_where=text("status = 'queued'")),
        # Deferred rows come due by time, and leases expire by time: each has its own small index.
        Index("ix_delivery_deferred_due", "next_attempt_at", sqlite_where=text("status = 'deferred'"),
              postgresql_where=text("status = 'deferred'")),
        Index("ix_delivery_lease", "lease_expires_at", sqlite_where=text("status = 'sending'"),
              postgresql_where=text("status = 'sending'")),
        # Status counts and the recent send rate per issue.
        Index("ix_delivery_issue_status", "issue_id", "status"),
        Index("ix_delivery_issue_sent_at", "issue_id", "sent_at"),
    )

    id: Mapped[intpk]
    issue_id: Mapped[int] = mapped_column(ForeignKey("issue.id", ondelete="CASCADE"), nullable=False)
    subscriber_id: Mapped[int] = mapped_column(ForeignKey("subscriber.id", ondelete="CASCADE"), nullable=False)
    status: Mapped[DeliveryStatus] = mapped_column(
        _enum(DeliveryStatus, "delivery_status"), default=DeliveryStatus.QUEUED, nullable=False
    )
    attempts: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    next_attempt_at: Mapped[when]
    lease_owner: Mapped[str | None] = mapped_column(String(100))
    lease_expires_at: Mapped[when]
    last_code: Mapped[int | None] = mapped_column(Integer)
    last_reply: Mapped[str | None] = mapped_column(Text)
    message_id: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[created]
    sent_at: Mapped[when]


class DeliveryTally(Base):
    """Deliveries per (issue, status), kept by database triggers on ``delivery`` (migration 0003),
    so a send's status is read from a handful of rows, not counted over a million."""

    __tablename__ = "delivery_tally"

    issue_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    status: Mapped[str] = mapped_column(String(20), primary_key=True)
    n: Mapped[int] = mapped_column(BigInteger, nullable=False)
