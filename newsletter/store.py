"""Named queries for the send engine: the Delivery table is the queue.

Claims take a batch with a lease: on PostgreSQL ``FOR UPDATE SKIP LOCKED`` lets many workers on
many machines claim side by side; SQLite ignores the locking clause and its single writer makes
the one ``UPDATE ... RETURNING`` atomic. A crashed worker's rows come back when the lease expires.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, and_, exists, func, insert, literal, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from newsletter.dispatch_types import Claim, IssueBody, Outcome
from newsletter.models import (
    Delivery,
    DeliveryStatus,
    Issue,
    IssueStatus,
    Subscriber,
    SubscriberStatus,
    utcnow,
)

UNFINISHED = (DeliveryStatus.QUEUED, DeliveryStatus.SENDING, DeliveryStatus.DEFERRED)


class SqlDeliveryStore:
    """The Store the dispatcher depends on, on SQLAlchemy; the dispatcher itself has no SQL."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def enqueue(self, issue_id: int) -> int:
        """One Delivery per active subscriber who has none for this issue yet, in one statement.

        Running it twice adds nobody twice: the NOT EXISTS skips readers already queued or sent,
        and the (issue, subscriber) unique constraint backs it up against a concurrent run.
        """
        now = utcnow()
        already = exists().where(Delivery.issue_id == issue_id, Delivery.subscriber_id == Subscriber.id)
        chosen = select(
            literal(issue_id),
            Subscriber.id,
            literal(DeliveryStatus.QUEUED.value),
            literal(0),
            literal(now, Delivery.created_at.type),
        ).where(Subscriber.status == SubscriberStatus.ACTIVE, ~already)
        with self._sessions.begin() as session:
            result = session.execute(
                insert(Delivery).from_select(
                    ["issue_id", "subscriber_id", "status", "attempts", "created_at"], chosen
                ),
                # Without it psycopg 3 reports -1 rows for INSERT ... SELECT.
                execution_options={"preserve_rowcount": True},
            )
            session.execute(
                update(Issue)
                .where(Issue.id == issue_id, Issue.status != IssueStatus.CANCELLED)
                .values(status=IssueStatus.SENDING, sent_at=None)
            )
            return cast("CursorResult[Any]", result).rowcount or 0

    def claim(self, worker: str, limit: int, lease_seconds: int, now: datetime | None = None) -> list[Claim]:
        now = now or utcnow()
        due = or_(
            Delivery.status == DeliveryStatus.QUEUED,
            and_(Delivery.status == DeliveryStatus.DEFERRED, Delivery.next_attempt_at <= now),
            and_(Delivery.status == DeliveryStatus.SENDING, Delivery.lease_expires_at < now),
        )
        sending = select(Issue.id).where(Issue.status == IssueStatus.SENDING)
        candidates = (
            select(Delivery.id)
            .where(due, Delivery.issue_id.in_(sending))
            .order_by(Delivery.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        with self._sessions.begin() as session:
            claimed = session.execute(
                update(Delivery)
                .where(Delivery.id.in_(candidates.scalar_subquery()))
                .values(
                    status=DeliveryStatus.SENDING,
                    lease_owner=worker,
                    lease_expires_at=now + timedelta(seconds=lease_seconds),
                )
                .returning(Delivery.id, Delivery.issue_id, Delivery.subscriber_id, Delivery.attempts)
                .execution_options(synchronize_session=False)
            ).all()
            if not claimed:
                return []
            readers = {
                row.id: (row.email, row.name)
                for row in session.execute(
                    select(Subscriber.id, Subscriber.email, Subscriber.name).where(
                        Subscriber.id.in_([c.subscriber_id for c in claimed])
                    )
                )
            }
        claims = [
            Claim(c.id, c.issue_id, c.subscriber_id, *readers[c.subscriber_id], attempts=c.attempts)
            for c in claimed
        ]
        return sorted(claims, key=lambda c: c.delivery_id)

    def record(self, worker: str, outcomes: Sequence[Outcome]) -> None:
        """Write a batch of outcomes in one transaction (not a commit per message)."""
        if not outcomes:
            return
        rows = [
            {
                "id": o.delivery_id,
                "status": o.status,
                "attempts": o.attempts,
                "next_attempt_at": o.next_attempt_at,
                "last_code": o.code,
                "last_reply": o.reply[:2000],
                "message_id": o.message_id,
                "sent_at": o.sent_at,
                "lease_owner": None,
                "lease_expires_at": None,
            }
            for o in outcomes
        ]
        bounced = [o.subscriber_id for o in outcomes if o.status is DeliveryStatus.BOUNCED]
        with self._sessions.begin() as session:
            session.execute(update(Delivery), rows)
            if bounced:
                # A hard bounce suppresses the address from every later send.
                session.execute(
                    update(Subscriber)
                    .where(Subscriber.id.in_(bounced), Subscriber.status == SubscriberStatus.ACTIVE)
                    .values(status=SubscriberStatus.BOUNCED)
                )

    def release(self, worker: str, delivery_ids: Sequence[int]) -> None:
        """Hand claimed rows back untouched (the backend could not send at all)."""
        with self._sessions.begin() as session:
            session.execute(
                update(Delivery)
                .where(Delivery.id.in_(delivery_ids), Delivery.lease_owner == worker)
                .values(status=DeliveryStatus.QUEUED, lease_owner=None, lease_expires_at=None)
            )

    def finish_issues(self) -> list[int]:
        """Mark issues whose every delivery reached an end state as sent."""
        open_rows = exists().where(Delivery.issue_id == Issue.id, Delivery.status.in_(UNFINISHED))
        with self._sessions.begin() as session:
            done = list(
                session.scalars(select(Issue.id).where(Issue.status == IssueStatus.SENDING, ~open_rows))
            )
            if done:
                session.execute(
                    update(Issue).where(Issue.id.in_(done)).values(status=IssueStatus.SENT, sent_at=utcnow())
                )
            return done

    def issue_body(self, issue_id: int) -> IssueBody:
        with self._sessions() as session:
            issue = session.get(Issue, issue_id)
            if issue is None or issue.html is None or issue.text is None:
                raise LookupError(f"issue {issue_id} has not been rendered")
            return IssueBody(issue.id, issue.subject, issue.preheader, issue.html, issue.text)

    def counts(self, issue_id: int) -> dict[str, int]:
        with self._sessions() as session:
            rows = session.execute(
                select(Delivery.status, func.count())
                .where(Delivery.issue_id == issue_id)
                .group_by(Delivery.status)
            )
            found = {status.value: count for status, count in rows}
        return {status.value: found.get(status.value, 0) for status in DeliveryStatus}
