"""The readers domain's tables."""

from __future__ import annotations

import enum
from typing import Any

from sqlalchemy import (
    JSON,
    ForeignKey,
    Index,
    Integer,
    String,
)
from sqlalchemy.orm import Mapped, mapped_column

from newsletter.db.base import Base, created, enum_type, intpk, when
from newsletter.readers.status import SubscriberStatus


class Subscriber(Base):
    __tablename__ = "subscriber"
    # Signed links name a reader by id: an erased reader's id must never go to a new sign-up.
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[intpk]
    email: Mapped[str] = mapped_column(String(320), unique=True, nullable=False)
    name: Mapped[str] = mapped_column(String(200), default="", nullable=False)
    status: Mapped[SubscriberStatus] = mapped_column(
        enum_type(SubscriberStatus, "subscriber_status"), default=SubscriberStatus.PENDING, nullable=False
    )
    source: Mapped[str] = mapped_column(String(50), default="web", nullable=False)
    time_zone: Mapped[str | None] = mapped_column(String(64))
    attributes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict, nullable=False)
    created_at: Mapped[created]
    confirmed_at: Mapped[when]
    unsubscribed_at: Mapped[when]
    confirmations_sent: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    # When the 24-hour window confirmations_sent counts in began (readers.welcome.MailAllowance).
    confirmations_since: Mapped[when]
    # The reader's own preferences (issue 7): no sends until paused_until; a new address awaiting
    # its confirmation (the old one keeps receiving until then), and how many such mails were sent.
    paused_until: Mapped[when]
    pending_email: Mapped[str | None] = mapped_column(String(320))
    email_changes_sent: Mapped[int] = mapped_column(Integer, default=0, server_default="0", nullable=False)
    email_changes_since: Mapped[when]  # the window email_changes_sent counts in, as above


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
    UNSUPPRESSED = "unsuppressed"  # suppression lifted by the owner (readers.suppression.unsuppress)


class SubscriberEvent(Base):
    """A reader's history, newest last: what happened and a short human-readable detail.

    Erasing the reader (GDPR) deletes these rows with them (ON DELETE CASCADE).
    """

    __tablename__ = "subscriber_event"
    __table_args__ = (Index("ix_subscriber_event_subscriber", "subscriber_id", "created_at"),)

    id: Mapped[intpk]
    subscriber_id: Mapped[int] = mapped_column(ForeignKey("subscriber.id", ondelete="CASCADE"), nullable=False)
    kind: Mapped[SubscriberEventKind] = mapped_column(enum_type(SubscriberEventKind, "subscriber_event_kind"), nullable=False)
    detail: Mapped[str] = mapped_column(String(500), default="", nullable=False)
    created_at: Mapped[created]


# -- editors and API tokens (issue 7)
