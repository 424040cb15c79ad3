"""The webhooks domain's tables: endpoints, the durable outbox of messages, and each attempt."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import JSON, BigInteger, Boolean, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from newsletter.db.base import Base, UTCDateTime, created, enum_type, intpk, when

# The event types an endpoint may ask for (README contract): reader events, per-delivery events,
# and an issue's send ending.
EVENTS = ("subscribed", "confirmed", "unsubscribed", "bounced", "complained", "sent", "opened", "clicked",
          "issue.sent")

# A message id that grows with every `sent` event: 64 bits on PostgreSQL; SQLite's INTEGER
# PRIMARY KEY is 64 bits already (and only that spelling is its rowid).
BigId = BigInteger().with_variant(Integer(), "sqlite")


class WebhookEndpoint(Base):
    __tablename__ = "webhook_endpoint"

    id: Mapped[intpk]
    url: Mapped[str] = mapped_column(String(2000), nullable=False)
    events: Mapped[list[str]] = mapped_column(JSON, default=list, nullable=False)
    # whsec_ + base64 of the key (Standard Webhooks); kept as given so the owner can see it again.
    secret: Mapped[str] = mapped_column(String(100), nullable=False)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True, nullable=False)
    created_at: Mapped[created]


class MessageStatus(str, enum.Enum):
    PENDING = "pending"  # waiting for its (next) attempt at next_attempt_at
    DELIVERED = "delivered"  # the endpoint answered 2xx
    FAILED = "failed"  # every attempt failed; a replay queues it again


class WebhookMessage(Base):
    """One event for one endpoint: the outbox row the deliverer claims, and its latest outcome."""

    __tablename__ = "webhook_message"
    __table_args__ = (
        # The deliverer's claim walks only pending rows by due time.
        Index("ix_webhook_message_due", "next_attempt_at",
              postgresql_where=text("status = 'pending'"), sqlite_where=text("status = 'pending'")),
        Index("ix_webhook_message_endpoint", "endpoint_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    endpoint_id: Mapped[int] = mapped_column(ForeignKey("webhook_endpoint.id", ondelete="CASCADE"), nullable=False)
    msg_id: Mapped[str] = mapped_column(String(40), unique=True, nullable=False)  # webhook-id: msg_<hex>
    event_type: Mapped[str] = mapped_column(String(20), nullable=False)
    payload: Mapped[str] = mapped_column(Text, nullable=False)  # the exact JSON body signed and sent
    status: Mapped[MessageStatus] = mapped_column(
        enum_type(MessageStatus, "webhook_message_status"), default=MessageStatus.PENDING, nullable=False
    )
    attempts: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    next_attempt_at: Mapped[when]
    last_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str] = mapped_column(String(500), default="", nullable=False)
    created_at: Mapped[created]
    delivered_at: Mapped[when]


class WebhookAttempt(Base):
    """One POST of a message and its answer: the endpoint's delivery log."""

    __tablename__ = "webhook_attempt"
    __table_args__ = (Index("ix_webhook_attempt_message", "message_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("webhook_message.id", ondelete="CASCADE"), nullable=False)
    attempted_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str] = mapped_column(String(500), default="", nullable=False)
    duration_ms: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
