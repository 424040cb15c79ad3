"""The inbound domain's tables."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column

from newsletter.db.base import Base, UTCDateTime, created, intpk, jsonlist

REASON_MAX = 300


class InboundReply(Base):
    """When an address was last answered by mail, per kind of reply (help, unsubscribe confirmation).

    The address is kept as a keyed hash; rows older than the reply interval are forgotten.
    """

    __tablename__ = "inbound_reply"
    __table_args__ = (Index("ix_inbound_reply_last_sent", "last_sent_at"),)

    address_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(20), primary_key=True)
    last_sent_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)


class UnverifiedReport(Base):
    """One report that changed nothing, newest last."""

    __tablename__ = "inbound_report"
    __table_args__ = (Index("ix_inbound_report_received", "received_at"),)

    id: Mapped[intpk]
    received_at: Mapped[created]
    kind: Mapped[str] = mapped_column(String(20), nullable=False)  # bounce, complaint; a provider event's type
    sent_to: Mapped[str] = mapped_column(String(320), default="", nullable=False)  # e.g. postmaster@example.org
    addresses: Mapped[jsonlist]  # the addresses it named (at most MAX_ADDRESSES)
    reason: Mapped[str] = mapped_column(String(REASON_MAX), nullable=False)  # why it was not believed
