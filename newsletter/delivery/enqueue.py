"""Queueing a send: one Delivery row per chosen reader, in one INSERT ... SELECT.

At a million readers this statement is the whole cost of starting a send (docs/benchmarks.md:
where its time goes, foreign-key checks first).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import BigInteger, ColumnElement, CursorResult, and_, cast as sql_cast, exists, func, literal, or_, select
from sqlalchemy.orm import Session

from newsletter.db.sql import insert_for
from newsletter.db.base import utcnow
from newsletter.delivery.db_clock import db_now
from newsletter.delivery.models import Delivery, DeliveryStatus
from newsletter.issues.models import Issue
from newsletter.lists.models import FIRST_LIST_ID, Subscription, SubscriptionStatus
from newsletter.readers.models import Subscriber, SubscriberStatus


@dataclass(frozen=True)
class Audience:
    """A send to a segment: its id (kept on the issue) and its filter compiled over ``Subscriber``."""

    segment_id: int
    where: ColumnElement[bool]


def sendable() -> ColumnElement[bool]:
    """The readers a send goes to: active, and not paused (a time the reader chose, read by this
    process's clock as the web app wrote it). Segment counts use the same condition."""
    return and_(Subscriber.status == SubscriberStatus.ACTIVE,
                or_(Subscriber.paused_until.is_(None), Subscriber.paused_until <= utcnow()))


def for_send(list_id: int, audience: ColumnElement[bool] | None = None) -> list[ColumnElement[bool]]:
    """The readers a send of the list is for, as conditions on ``Subscriber``: an active
    subscription to the list, sendable, and in the segment (``audience``) when there is one. For
    counts and samples; ``add_readers`` joins the subscriptions instead (two ordered index scans
    merged at a million readers) with the same conditions."""
    subscribed = exists().where(Subscription.subscriber_id == Subscriber.id, Subscription.list_id == list_id,
                                Subscription.status == SubscriptionStatus.ACTIVE)
    return [subscribed, sendable()] + ([audience] if audience is not None else [])


def add_readers(
    session: Session, issue_id: int, zones: Sequence[str] | None, default_zone: str | None,
    audience: ColumnElement[bool] | None = None,
) -> int:
    """One Delivery per active reader of the issue's list who has none for this issue yet, in one statement.

    ``audience`` (a segment's compiled filter, ``audience.compile``) narrows it further, in the
    same statement's WHERE.

    ``zones`` (local-time sends) limits it to readers whose own zone, or ``default_zone`` when
    they have none, is one of them: one wave of the send.

    Running it twice adds nobody twice: the (issue, subscriber) unique constraint makes a reader
    already queued or sent a conflict that is skipped, also against a concurrent run (which
    waits on the caller's lock of the issue row); the first wave, with nothing to conflict
    with, is a plain INSERT on PostgreSQL.

    ``created_at`` is the database's time: workers compare it with their batch's (database) time
    to give up on a delivery older than ``retry_max_age_hours``.
    """
    dialect = session.get_bind().dialect.name
    # The issue's list, read first (one primary-key probe) so the planner sees a constant.
    list_id = session.scalar(select(Issue.list_id).where(Issue.id == issue_id))
    chosen = select(
        literal(issue_id),
        Subscriber.id,
        literal(DeliveryStatus.QUEUED.value),
        literal(0),
        db_now(dialect),
    ).select_from(Subscription).join(Subscriber, Subscriber.id == Subscription.subscriber_id).where(
        # Readers with an active subscription to the issue's list AND an active standing.
        Subscription.list_id == list_id,
        Subscription.status == SubscriptionStatus.ACTIVE,
        sendable(),
    )
    if audience is not None:
        chosen = chosen.where(audience)
    if zones is not None:
        chosen = chosen.where(func.coalesce(Subscriber.time_zone, default_zone).in_(list(zones)))
    # In id order: each index on (issue_id, subscriber_id ...) grows at its right edge (the
    # subscription key (list, reader) gives that order as it is scanned).
    chosen = chosen.order_by(Subscription.subscriber_id)
    columns = ["issue_id", "subscriber_id", "status", "attempts", "created_at"]
    statement = insert_for(dialect)(Delivery).from_select(columns, chosen)
    if not (dialect == "postgresql" and _none_queued(session, issue_id)):
        # ON CONFLICT rather than NOT EXISTS: one unique-index probe per row, whatever the
        # planner's statistics say (a NOT EXISTS anti-join planned on an empty delivery table
        # took 42 s instead of 1 s for 100k readers).
        statement = statement.on_conflict_do_nothing(index_elements=["issue_id", "subscriber_id"])
    # Otherwise the first wave of a send on PostgreSQL (the usual case) needs no conflict
    # handling: the caller's guard holds the issue row, so no other enqueue of this issue can add
    # rows before this transaction ends, and the unique constraint would refuse a duplicate from
    # elsewhere rather than skip it. A plain INSERT skips ON CONFLICT's speculative insertion (its
    # pre-check probe and confirm record): ~0.6 s of CPU at 200k readers (docs/benchmarks.md).
    # preserve_rowcount: without it psycopg 3 reports -1 rows for INSERT ... SELECT.
    result = session.execute(statement, execution_options={"preserve_rowcount": True})
    return cast("CursorResult[Any]", result).rowcount or 0


def add_sample(session: Session, issue_id: int, fraction: float, variants: int,
               audience: ColumnElement[bool] | None = None) -> int:
    """An A/B test's share: ``fraction`` of the readers a send is for (rounded, at least one per
    variant), in one INSERT ... SELECT that also gives each its ``variant`` (0 .. variants-1) in
    turn, so each variant's share differs from another's by at most one.

    The sample is a fixed pseudo-random order of the readers, a multiplicative hash of the
    reader's id mixed with the issue's: the same list and issue give the same sample on either
    database, and another issue samples other readers. The readers are those ``add_readers``
    takes: the issue's list's, sendable, and the segment's (``audience``) when there is one.
    """
    dialect = session.get_bind().dialect.name
    list_id = session.scalar(select(Issue.list_id).where(Issue.id == issue_id))
    mailable = for_send(list_id or FIRST_LIST_ID, audience)
    total = int(session.scalar(select(func.count()).select_from(Subscriber).where(*mailable)) or 0)
    size = min(total, max(int(total * fraction + 0.5), variants))
    # Knuth's multiplicative constant modulo the largest prime below 2**32: 64-bit arithmetic
    # on both databases (ids stay below 2**31, so the product below 2**63).
    spread = (sql_cast(Subscriber.id, BigInteger) * 2654435761 + issue_id * 40503) % 4294967291
    ranked = select(
        Subscriber.id.label("subscriber_id"),
        func.row_number().over(order_by=(spread, Subscriber.id)).label("rank"),
    ).where(*mailable).subquery()
    chosen = select(
        literal(issue_id), ranked.c.subscriber_id, literal(DeliveryStatus.QUEUED.value), literal(0),
        db_now(dialect), (ranked.c.rank - 1) % variants,
    ).where(ranked.c.rank <= size).order_by(ranked.c.subscriber_id)
    columns = ["issue_id", "subscriber_id", "status", "attempts", "created_at", "variant"]
    statement = insert_for(dialect)(Delivery).from_select(columns, chosen).on_conflict_do_nothing(
        index_elements=["issue_id", "subscriber_id"])
    result = session.execute(statement, execution_options={"preserve_rowcount": True})
    return cast("CursorResult[Any]", result).rowcount or 0


def _none_queued(session: Session, issue_id: int) -> bool:
    """No delivery of this issue exists yet (one probe of the (issue, subscriber) index)."""
    return not session.scalar(select(exists().where(Delivery.issue_id == issue_id)))
