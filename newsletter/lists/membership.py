"""A reader's subscriptions: join, leave, and which lists they get.

These work inside the caller's transaction, so a subscription changes with the standing change
it goes with (``readers.subscriptions``: sign-up, confirmation, unsubscribe, the editor's add).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ColumnElement, delete, literal, select, update
from sqlalchemy.orm import Session

from newsletter.db.sql import insert_for
from newsletter.db.base import UTCDateTime, utcnow
from newsletter.lists.models import FIRST_LIST_ID, Subscription, SubscriptionStatus
from newsletter.readers.models import Subscriber


def join(session: Session, subscriber_id: int, list_id: int = FIRST_LIST_ID, now: datetime | None = None) -> bool:
    """Subscribe the reader to the list (a new or a re-activated subscription); False when they
    already had an active one. Whether they are mailed still depends on their standing."""
    return _toward(session, subscriber_id, list_id, SubscriptionStatus.ACTIVE, now)


def ask(session: Session, subscriber_id: int, list_id: int, now: datetime | None = None) -> bool:
    """A public sign-up to the list: a pending subscription, activated when the reader confirms
    (``activate_pending``). False when they already have an active one (nothing changes)."""
    return _toward(session, subscriber_id, list_id, SubscriptionStatus.PENDING, now)


def _toward(session: Session, subscriber_id: int, list_id: int, status: SubscriptionStatus,
            now: datetime | None) -> bool:
    """The subscription made or set to ``status``, unless it is active already (False)."""
    row = session.get(Subscription, (list_id, subscriber_id), with_for_update=True)
    if row is None:
        session.add(Subscription(list_id=list_id, subscriber_id=subscriber_id, status=status,
                                 created_at=now or utcnow()))
        session.flush()
        return True
    if row.status is SubscriptionStatus.ACTIVE:
        return False
    row.status, row.unsubscribed_at = status, None
    return True


def is_active(session: Session, subscriber_id: int, list_id: int) -> bool:
    return session.scalar(select(Subscription.status).where(
        Subscription.list_id == list_id, Subscription.subscriber_id == subscriber_id)) is SubscriptionStatus.ACTIVE


def activate_pending(session: Session, subscriber_id: int) -> list[int]:
    """The reader proved their mailbox (the confirm link or reply): every pending subscription of
    theirs becomes active. Returns the ids of the lists joined."""
    ids = pending_lists(session, subscriber_id)
    if ids:
        session.execute(update(Subscription).where(Subscription.subscriber_id == subscriber_id,
                                                   Subscription.status == SubscriptionStatus.PENDING)
                        .values(status=SubscriptionStatus.ACTIVE, unsubscribed_at=None),
                        execution_options={"synchronize_session": False})
    return ids


def pending_lists(session: Session, subscriber_id: int) -> list[int]:
    return list(session.scalars(
        select(Subscription.list_id).where(Subscription.subscriber_id == subscriber_id,
                                           Subscription.status == SubscriptionStatus.PENDING)
        .order_by(Subscription.list_id)
    ))


def leave(session: Session, subscriber_id: int, list_id: int | None, now: datetime | None = None) -> int:
    """End the reader's subscription to the list (every list when ``list_id`` is None); returns how
    many active subscriptions they have left. A pending one is dropped: it was never theirs, so
    nothing (not an editor's restore) brings it back."""
    dropped = delete(Subscription).where(Subscription.subscriber_id == subscriber_id,
                                         Subscription.status == SubscriptionStatus.PENDING)
    if list_id is not None:
        dropped = dropped.where(Subscription.list_id == list_id)
    session.execute(dropped, execution_options={"synchronize_session": False})
    query = update(Subscription).where(Subscription.subscriber_id == subscriber_id,
                                       Subscription.status == SubscriptionStatus.ACTIVE)
    if list_id is not None:
        query = query.where(Subscription.list_id == list_id)
    session.execute(query.values(status=SubscriptionStatus.UNSUBSCRIBED, unsubscribed_at=now or utcnow()),
                    execution_options={"synchronize_session": False})
    return len(active_lists(session, subscriber_id))


def active_lists(session: Session, subscriber_id: int) -> list[int]:
    """The ids of the lists the reader has an active subscription to, in list order."""
    return list(session.scalars(
        select(Subscription.list_id).where(Subscription.subscriber_id == subscriber_id,
                                           Subscription.status == SubscriptionStatus.ACTIVE)
        .order_by(Subscription.list_id)
    ))


def restore(session: Session, subscriber_id: int, now: datetime | None = None) -> None:
    """A reader set active again by the editor gets back what they had: every subscription they
    ever had when none is active (the first list when they never had one)."""
    if active_lists(session, subscriber_id):
        return
    had = list(session.scalars(select(Subscription).where(Subscription.subscriber_id == subscriber_id)))
    if not had:
        join(session, subscriber_id, FIRST_LIST_ID, now)
    for row in had:
        row.status, row.unsubscribed_at = SubscriptionStatus.ACTIVE, None


def join_where(session: Session, list_id: int, readers: ColumnElement[bool], now: datetime | None = None,
               status: SubscriptionStatus = SubscriptionStatus.ACTIVE) -> None:
    """Subscribe every reader matching ``readers`` (a condition on ``subscriber``) to the list in
    one INSERT ... SELECT (the importer's chunks); a subscription they have, active or ended, is
    left as it is, so an import never re-subscribes someone who left the list. ``status``: pending
    for an import that was not opted in (confirming activates it)."""
    chosen = select(literal(list_id), Subscriber.id, literal(status.value),
                    literal(now or utcnow(), UTCDateTime())).where(readers)
    session.execute(insert_for(session)(Subscription).from_select(["list_id", "subscriber_id", "status", "created_at"], chosen)
                    .on_conflict_do_nothing(index_elements=["list_id", "subscriber_id"]))
