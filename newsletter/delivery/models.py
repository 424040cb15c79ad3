"""The delivery domain's tables."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Float,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from newsletter.db.base import Base, UTCDateTime, created, enum_type, intpk, when


class DeliveryStatus(str, enum.Enum):
    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    DEFERRED = "deferred"
    FAILED = "failed"
    BOUNCED = "bounced"
    SKIPPED = "skipped"


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
        # Only sent rows: a queued row enters it when it is sent, not at enqueue (migration 0021).
        Index("ix_delivery_issue_sent_at", "issue_id", "sent_at", sqlite_where=text("sent_at IS NOT NULL"),
              postgresql_where=text("sent_at IS NOT NULL")),
    )

    id: Mapped[intpk]
    issue_id: Mapped[int] = mapped_column(ForeignKey("issue.id", ondelete="CASCADE"), nullable=False)
    subscriber_id: Mapped[int] = mapped_column(ForeignKey("subscriber.id", ondelete="CASCADE"), nullable=False)
    status: Mapped[DeliveryStatus] = mapped_column(
        enum_type(DeliveryStatus, "delivery_status"), default=DeliveryStatus.QUEUED, nullable=False
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
    # The A/B subject this reader got in the test share (0-3, abtests); NULL for every other send.
    variant: Mapped[int | None] = mapped_column(SmallInteger)


class DeliveryTally(Base):
    """Deliveries per (issue, status), kept by database triggers on ``delivery`` (migration 0003),
    so a send's status is read from a handful of rows, not counted over a million.

    Striped: each database session adds to its own ``slot`` (migration 0022), so workers' writes
    do not queue on one row's lock; a count is the sum over the slots (``tally.py``)."""

    __tablename__ = "delivery_tally"

    issue_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    status: Mapped[str] = mapped_column(String(20), primary_key=True)
    slot: Mapped[int] = mapped_column(SmallInteger, primary_key=True, server_default="0")
    n: Mapped[int] = mapped_column(BigInteger, nullable=False)


class DomainPace(Base):
    """One recipient domain group's pace, shared by every worker (newsletter/delivery/pacing.py).

    Each write is a compare-and-set on ``version``: workers on several machines take their slots
    from one rate. Times are the database's.
    """

    __tablename__ = "domain_pace"

    domain: Mapped[str] = mapped_column(String(253), primary_key=True)
    rate: Mapped[float] = mapped_column(Float, nullable=False)  # messages per second at changed_at
    ceiling: Mapped[float] = mapped_column(Float, nullable=False)  # the limit it recovers to
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    next_slot: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    booked_until: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    paused_until: Mapped[when]
    strikes: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=0)


class DomainTally(Base):
    """Per issue, a paced domain group's sent and waiting (deferred) deliveries, added to by the
    workers with each recorded batch: ``issues status`` reads a few rows, and never groups a
    million recipients by domain."""

    __tablename__ = "domain_tally"

    issue_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    domain: Mapped[str] = mapped_column(String(253), primary_key=True)
    sent: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    deferred: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)


# Figures attribute an unsubscribe to the last issue sent to that reader before it.
Index("ix_delivery_subscriber_sent", Delivery.subscriber_id, Delivery.sent_at)
