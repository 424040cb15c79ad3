"""The provider events already applied: the idempotency key of every webhook."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column

from newsletter.db.base import UTCDateTime, Base


class SeenProviderEvent(Base):
    """One provider event (or a Mailgun signing token) that was acted on, inserted in the same
    transaction as the change it made: a repeat finds the row and changes nothing."""

    __tablename__ = "provider_event"
    __table_args__ = (Index("ix_provider_event_received", "received_at"),)

    provider: Mapped[str] = mapped_column(String(20), primary_key=True)  # ses, mailgun, mailgun-token, ...
    event_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
