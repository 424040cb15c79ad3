"""The lists domain's tables: a newsletter (``mailing_list``) and a reader's subscriptions to it.

A reader's standing stays on ``subscriber.status`` (pending, active, unsubscribed, bounced,
complained; suppression is global); ``subscription`` only says which lists a person gets. A send
of list L reaches readers with an active subscription to L and an active standing.
"""

from __future__ import annotations

import enum
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from newsletter.db.base import Base, created, enum_type, intpk, when

# The list existing data became (migration 0023); what every command means without --list.
FIRST_LIST_ID = 1


class MailingList(Base):
    __tablename__ = "mailing_list"

    id: Mapped[intpk]
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    slug: Mapped[str] = mapped_column(String(60), unique=True, nullable=False)
    # NULL: the installation's From (the list profile and NEWSLETTER_FROM_ADDRESS).
    from_address: Mapped[str | None] = mapped_column(String(320))
    # The design fields this list sets itself (`lists.design`); NULL or a missing key: the first
    # list's. Always assigned a new dict, as the JSON type does not track changes inside one.
    design: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[created]


class SubscriptionStatus(str, enum.Enum):
    # A public sign-up waits on the mailbox's confirmation (anyone can type an address); a
    # pending subscription is never mailed an issue and goes when the reader leaves.
    PENDING = "pending"
    ACTIVE = "active"
    UNSUBSCRIBED = "unsubscribed"


class Subscription(Base):
    """One reader on one list. The primary key (list, reader) is what a send scans; the second
    index finds a reader's lists (preferences, unsubscribe)."""

    __tablename__ = "subscription"
    __table_args__ = (Index("ix_subscription_subscriber", "subscriber_id", "list_id"),)

    list_id: Mapped[int] = mapped_column(ForeignKey("mailing_list.id", ondelete="CASCADE"), primary_key=True)
    subscriber_id: Mapped[int] = mapped_column(ForeignKey("subscriber.id", ondelete="CASCADE"), primary_key=True)
    status: Mapped[SubscriptionStatus] = mapped_column(
        enum_type(SubscriptionStatus, "subscription_status"), default=SubscriptionStatus.ACTIVE, nullable=False
    )
    created_at: Mapped[created]
    unsubscribed_at: Mapped[when]
