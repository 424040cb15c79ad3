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
    Boolean,
    DateTime,
    Enum,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
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
    # The reader's own preferences (issue 7): no sends until paused_until; a new address awaiting
    # its confirmation (the old one keeps receiving until then), and how many such mails were sent.
    paused_until: Mapped[when]
    pending_email: Mapped[str | None] = mapped_column(String(320))
    email_changes_sent: Mapped[int] = mapped_column(Integer, default=0, server_default="0", nullable=False)


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
    source_id: Mapped[int | None] = mapped_column(ForeignKey("source.id", ondelete="SET NULL"))
    content_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    created_at: Mapped[created]
    # Hidden by the editor: never composed into an issue nor offered in the issue editor.
    hidden: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false(), nullable=False)


class Issue(Base):
    __tablename__ = "issue"

    id: Mapped[intpk]
    number: Mapped[int] = mapped_column(Integer, unique=True, nullable=False)
    week: Mapped[str | None] = mapped_column(String(10), unique=True)  # ISO week "2026-W48"
    subject: Mapped[str] = mapped_column(String(300), nullable=False)
    preheader: Mapped[str] = mapped_column(String(300), default="", nullable=False)
    editor_note: Mapped[str] = mapped_column(Text, default="", server_default="", nullable=False)  # atop the email
    status: Mapped[IssueStatus] = mapped_column(
        _enum(IssueStatus, "issue_status"), default=IssueStatus.DRAFT, nullable=False
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


class SourceKind(str, enum.Enum):
    FEED = "feed"  # RSS 2.0 or Atom over http(s)
    FOLDER = "folder"  # seed-format and Markdown files


class Source(Base):
    """Where articles come from; each is polled on its own interval."""

    __tablename__ = "source"

    id: Mapped[intpk]
    kind: Mapped[SourceKind] = mapped_column(_enum(SourceKind, "source_kind"), nullable=False)
    location: Mapped[str] = mapped_column(String(1000), unique=True, nullable=False)  # URL or absolute path
    title: Mapped[str] = mapped_column(String(300), default="", nullable=False)
    interval_minutes: Mapped[int] = mapped_column(Integer, default=60, nullable=False)
    created_at: Mapped[created]
    last_polled_at: Mapped[when]
    last_ok_at: Mapped[when]
    last_error: Mapped[str | None] = mapped_column(Text)


class ScheduleMode(str, enum.Enum):
    AUTO = "auto"
    APPROVE = "approve"
    LOCAL_TIME = "local-time"


class CycleSchedule(Base):
    """The weekly cycle as the editor set it (one row); the Settings give the defaults."""

    __tablename__ = "cycle_schedule"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, default=1)
    compose_day: Mapped[str] = mapped_column(String(3), nullable=False)
    compose_time: Mapped[str] = mapped_column(String(5), nullable=False)
    send_day: Mapped[str] = mapped_column(String(3), nullable=False)
    send_time: Mapped[str] = mapped_column(String(5), nullable=False)
    time_zone: Mapped[str] = mapped_column(String(64), nullable=False)
    mode: Mapped[ScheduleMode] = mapped_column(_enum(ScheduleMode, "schedule_mode"), nullable=False)
    updated_at: Mapped[created]


class CycleState(str, enum.Enum):
    COMPOSED = "composed"
    AWAITING_APPROVAL = "awaiting_approval"
    SENDING = "sending"  # queued (all at once, or wave by wave in local-time mode)
    SENT = "sent"
    EMPTY = "empty"  # no articles: nothing sent
    NOT_APPROVED = "not_approved"  # send time came without approval: nothing sent
    MISSED = "missed"  # the scheduler was down past the grace period


class WeeklyCycle(Base):
    """One row per (list, ISO week): the key that makes composing and sending a week exactly once."""

    __tablename__ = "weekly_cycle"

    week: Mapped[str] = mapped_column(String(10), primary_key=True)  # "2026-W48"
    state: Mapped[CycleState] = mapped_column(_enum(CycleState, "cycle_state"), nullable=False)
    issue_id: Mapped[int | None] = mapped_column(ForeignKey("issue.id", ondelete="SET NULL"))
    composed_at: Mapped[when]
    send_at: Mapped[when]  # the send time this week (UTC)
    dispatched_at: Mapped[when]
    waves_done: Mapped[list[str]] = mapped_column(JSON, default=list, nullable=False)  # local-time: zones queued
    note: Mapped[str] = mapped_column(Text, default="", nullable=False)
    updated_at: Mapped[created]


class Suppression(Base):
    """An address never to mail again, kept as a keyed hash so it outlives the subscriber's data."""

    __tablename__ = "suppression"

    address_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    reason: Mapped[str] = mapped_column(String(20), nullable=False)  # bounced, complained, erased, manual
    created_at: Mapped[created]


class SubscriberEventKind(str, enum.Enum):
    SUBSCRIBED = "subscribed"  # signed up (double opt-in started) or added by the editor
    CONFIRMED = "confirmed"
    UNSUBSCRIBED = "unsubscribed"
    RESUBSCRIBED = "resubscribed"  # signed up again after leaving, bouncing or being suspended
    IMPORTED = "imported"
    BOUNCED = "bounced"  # a hard bounce
    SOFT_BOUNCE = "soft_bounce"
    SUSPENDED = "suspended"  # too many soft bounces
    COMPLAINED = "complained"
    AUTO_REPLY = "auto_reply"
    STATUS_CHANGED = "status_changed"  # set by the editor


class SubscriberEvent(Base):
    """A reader's history, newest last: what happened and a short human-readable detail.

    Erasing the reader (GDPR) deletes these rows with them (ON DELETE CASCADE).
    """

    __tablename__ = "subscriber_event"
    __table_args__ = (Index("ix_subscriber_event_subscriber", "subscriber_id", "created_at"),)

    id: Mapped[intpk]
    subscriber_id: Mapped[int] = mapped_column(ForeignKey("subscriber.id", ondelete="CASCADE"), nullable=False)
    kind: Mapped[SubscriberEventKind] = mapped_column(_enum(SubscriberEventKind, "subscriber_event_kind"), nullable=False)
    detail: Mapped[str] = mapped_column(String(500), default="", nullable=False)
    created_at: Mapped[created]


# -- editors and API tokens (issue 7)


class UserRole(str, enum.Enum):
    OWNER = "owner"  # everything, including users and API tokens
    EDITOR = "editor"  # the newsletter's pages, not the accounts


class User(Base):
    """An editor's account; the email is stored normalised (lower case), the password as argon2id."""

    __tablename__ = "app_user"  # "user" is reserved in PostgreSQL

    id: Mapped[intpk]
    email: Mapped[str] = mapped_column(String(320), unique=True, nullable=False)
    password_hash: Mapped[str] = mapped_column(String(255), nullable=False)
    role: Mapped[UserRole] = mapped_column(_enum(UserRole, "user_role"), nullable=False)
    created_at: Mapped[created]
    last_login_at: Mapped[when]
    failed_logins: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    locked_until: Mapped[when]


class ApiToken(Base):
    """A bearer token for the JSON API: only its SHA-256 is kept, and its first characters to show."""

    __tablename__ = "api_token"

    id: Mapped[intpk]
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    prefix: Mapped[str] = mapped_column(String(8), nullable=False)
    created_at: Mapped[created]
    last_used_at: Mapped[when]
    revoked_at: Mapped[when]
    created_by: Mapped[int | None] = mapped_column(ForeignKey("app_user.id", ondelete="SET NULL"))


class LoginSession(Base):
    """A logged-in browser: the cookie names it, so logging out (or deleting the user) ends it server-side."""

    __tablename__ = "login_session"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # SHA-256 of the cookie's random part
    user_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id", ondelete="CASCADE"))  # None: built-in admin
    created_at: Mapped[created]
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)


# -- open and click tracking (issue 7)


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


# Figures attribute an unsubscribe to the last issue sent to that reader before it.
Index("ix_delivery_subscriber_sent", Delivery.subscriber_id, Delivery.sent_at)


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
    updated_at: Mapped[when]
