"""A reader's standing after their mail came back: the one place the bounce and complaint rules live.

Both ways news of a reader's mailbox reaches us go through here: the worker recording a 5xx at
send time (``delivery.store.SqlDeliveryStore.record``, a batch of readers in the worker's one
transaction) and a report mailed back later (``inbound.reports``: a DSN or an ARF complaint).

- **Hard bounce** (a permanent refusal): a reader still mailable (active or pending) becomes
  ``bounced``; the address goes on the suppression list, so no later send, import or sign-up
  reaches it, also after the reader's data is erased; a ``bounced`` event.
- **Soft bounce** (a DSN saying the mailbox failed for now): a ``soft_bounce`` event; the
  reader's event log is the count, and ``SOFT_BOUNCE_LIMIT`` of them within
  ``SOFT_BOUNCE_WINDOW`` suspend a mailable reader (``bounced`` and a ``suspended`` event; the
  address is not suppressed: the mailbox may come back). A 4xx at send time is not a soft
  bounce: the delivery is only deferred and retried (see ``delivery.outcomes``).
- **Complaint** (the reader marked the mail as spam): ``complained`` whatever their status,
  unsubscribed, suppressed, a ``complained`` event.

Every function only adds to the caller's session, so the change commits or rolls back with
whatever the caller records beside it (the deliveries' outcomes, the report's delivery row).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, func, select, update
from sqlalchemy.orm import Session

from newsletter.db.base import utcnow
from newsletter.readers.history import notify_readers, record_event
from newsletter.readers.models import Subscriber, SubscriberEvent, SubscriberEventKind, SubscriberStatus
from newsletter.readers.suppression import SuppressionList

SOFT_BOUNCE_LIMIT = 3
SOFT_BOUNCE_WINDOW = timedelta(days=30)
# Readers a bounce still changes; one already bounced, unsubscribed or complained keeps that status.
MAILABLE = (SubscriberStatus.ACTIVE, SubscriberStatus.PENDING)


@dataclass(frozen=True)
class SoftBounce:
    recent: int  # soft bounces within the window, this one included
    suspended: bool  # this one suspended the reader


def hard_bounced(session: Session, suppression: SuppressionList, bounces: Sequence[tuple[int, str]]) -> None:
    """Readers whose mail was refused for good: ``(subscriber_id, detail)`` pairs, one event each.

    One UPDATE, one SELECT and one suppression INSERT for the whole batch, whatever its size.
    """
    if not bounces:
        return
    ids = sorted({subscriber_id for subscriber_id, _ in bounces})
    session.execute(
        update(Subscriber).where(Subscriber.id.in_(ids), Subscriber.status.in_(MAILABLE))
        .values(status=SubscriberStatus.BOUNCED),
        # The batch's readers are not loaded in a worker's session: nothing to keep in step.
        execution_options={"synchronize_session": False},
    )
    for subscriber_id, detail in bounces:
        record_event(session, subscriber_id, SubscriberEventKind.BOUNCED, detail, notify=False)
    notify_readers(session, SubscriberEventKind.BOUNCED, bounces)  # the batch's webhooks at once
    suppression.add(session, session.scalars(select(Subscriber.email).where(Subscriber.id.in_(ids))), "bounced")


COUNT_RESETS = (SubscriberEventKind.SUSPENDED, SubscriberEventKind.UNSUPPRESSED)


def soft_bounced(session: Session, subscriber_id: int, detail: str) -> SoftBounce:
    """A reader's mailbox failed for now: counted, and suspended at the limit."""
    record_event(session, subscriber_id, SubscriberEventKind.SOFT_BOUNCE, detail)
    session.flush()
    # A suspension, or the owner lifting a suppression, starts a fresh count: the bounces
    # before it were already judged, and must not suspend a reinstated reader at the next one.
    fresh_start = session.scalar(
        select(func.max(SubscriberEvent.created_at)).where(
            SubscriberEvent.subscriber_id == subscriber_id,
            SubscriberEvent.kind.in_(COUNT_RESETS),
        )
    )
    since = utcnow() - SOFT_BOUNCE_WINDOW
    if fresh_start is not None and fresh_start > since:
        since = fresh_start
    recent = session.scalar(
        select(func.count()).select_from(SubscriberEvent).where(
            SubscriberEvent.subscriber_id == subscriber_id,
            SubscriberEvent.kind == SubscriberEventKind.SOFT_BOUNCE,
            SubscriberEvent.created_at >= since,
        )
    ) or 0
    if recent < SOFT_BOUNCE_LIMIT:
        return SoftBounce(recent, False)
    moved = session.execute(
        update(Subscriber).where(Subscriber.id == subscriber_id, Subscriber.status.in_(MAILABLE))
        .values(status=SubscriberStatus.BOUNCED)
    )
    if not cast("CursorResult[Any]", moved).rowcount:
        return SoftBounce(recent, False)
    record_event(session, subscriber_id, SubscriberEventKind.SUSPENDED,
                 f"{recent} soft bounces in {SOFT_BOUNCE_WINDOW.days} days")
    return SoftBounce(recent, True)


def complained(session: Session, suppression: SuppressionList, subscriber_id: int, feedback_type: str) -> None:
    """The reader reported the mail as spam: complained, unsubscribed and suppressed."""
    subscriber = session.get(Subscriber, subscriber_id)
    if subscriber is None:
        return
    subscriber.status = SubscriberStatus.COMPLAINED
    subscriber.unsubscribed_at = subscriber.unsubscribed_at or utcnow()
    suppression.add(session, [subscriber.email], "complained")
    record_event(session, subscriber_id, SubscriberEventKind.COMPLAINED, feedback_type or "abuse")
