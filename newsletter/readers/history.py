"""A reader's history: the event log (sign-up, confirmation, bounces, complaints, edits) and
their deliveries, read together for the admin page and ``subscribers show``.

``record_event`` only adds a row to the caller's session, so the event commits (or rolls back)
with the status change it describes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from newsletter.errors import NotFound
from newsletter.db.base import utcnow
from newsletter.delivery.models import Delivery, DeliveryStatus
from newsletter.issues.models import Issue
from newsletter.readers.models import Subscriber, SubscriberEvent, SubscriberEventKind, SubscriberStatus

DETAIL_MAX = 500  # the column's length
PER_PAGE = 50


class SubscriberNotFound(NotFound):
    """No subscriber has that id (never existed, or erased)."""


@dataclass(frozen=True)
class HistoryEvent:
    kind: SubscriberEventKind
    detail: str
    at: datetime


@dataclass(frozen=True)
class DeliveryRecord:
    issue_id: int
    issue_number: int
    subject: str
    status: DeliveryStatus
    attempts: int
    last_code: int | None
    last_reply: str  # the server's last reply or the reason it was skipped; "" when none
    queued_at: datetime
    sent_at: datetime | None
    next_attempt_at: datetime | None

    @property
    def at(self) -> datetime:
        """When it was sent, or else when it was queued."""
        return self.sent_at or self.queued_at

    @property
    def error(self) -> str | None:
        """The last reply when the delivery did not (yet) go out; None once sent."""
        if self.status is DeliveryStatus.SENT or not self.last_reply:
            return None
        return f"{self.last_code} {self.last_reply}" if self.last_code else self.last_reply


@dataclass(frozen=True)
class SubscriberHistory:
    id: int
    email: str
    name: str
    status: SubscriberStatus
    source: str
    time_zone: str | None
    created_at: datetime
    confirmed_at: datetime | None
    unsubscribed_at: datetime | None
    events: list[HistoryEvent]  # newest first
    deliveries: list[DeliveryRecord]  # newest first


# The history events an outgoing webhook reports (webhooks/models.py EVENTS): a resubscription or an
# import is a subscription to an integrator; a suspension (too many soft bounces) bounces the reader.
WEBHOOK_EVENTS = {
    SubscriberEventKind.SUBSCRIBED: "subscribed",
    SubscriberEventKind.RESUBSCRIBED: "subscribed",
    SubscriberEventKind.IMPORTED: "subscribed",
    SubscriberEventKind.CONFIRMED: "confirmed",
    SubscriberEventKind.UNSUBSCRIBED: "unsubscribed",
    SubscriberEventKind.BOUNCED: "bounced",
    SubscriberEventKind.SUSPENDED: "bounced",
    SubscriberEventKind.COMPLAINED: "complained",
}


def record_event(session: Session, subscriber_id: int, kind: SubscriberEventKind, detail: str = "", *,
                 notify: bool = True) -> None:
    """Add one event to the caller's transaction; never commits or flushes by itself.

    The webhook event it stands for (if any) is queued in the same transaction; ``notify=False``
    for a caller that queues a batch's webhooks itself (``notify_readers``).
    """
    text = one_line(detail)
    session.add(SubscriberEvent(subscriber_id=subscriber_id, kind=kind, detail=text, created_at=utcnow()))
    if notify:
        notify_readers(session, kind, [(subscriber_id, text)])


def one_line(detail: str) -> str:
    text = " ".join(detail.split())  # one line: no header or table breaking newlines
    return text[: DETAIL_MAX - 1] + "…" if len(text) > DETAIL_MAX else text


def notify_readers(session: Session, kind: SubscriberEventKind, readers: Sequence[tuple[int, str]]) -> None:
    """Queue the webhook ``kind`` stands for, for each ``(subscriber_id, detail)``, in the caller's
    transaction (one look at the endpoints for the whole batch)."""
    from newsletter.webhooks.emit import emit_for_readers

    event = WEBHOOK_EVENTS.get(kind)
    if event is not None and readers:
        emit_for_readers(session, event, [(i, {"kind": kind.value, "detail": one_line(d)}) for i, d in readers])


def subscriber_history(session: Session, subscriber_id: int, limit: int = 200) -> SubscriberHistory:
    """The reader as they are now, their last ``limit`` events and last ``limit`` deliveries."""
    subscriber = session.get(Subscriber, subscriber_id)
    if subscriber is None:
        raise SubscriberNotFound(f"there is no subscriber {subscriber_id}")
    events = session.scalars(
        select(SubscriberEvent)
        .where(SubscriberEvent.subscriber_id == subscriber_id)
        .order_by(SubscriberEvent.created_at.desc(), SubscriberEvent.id.desc())
        .limit(limit)
    )
    deliveries = session.execute(
        select(Delivery, Issue.number, Issue.subject)
        .join(Issue, Issue.id == Delivery.issue_id)
        .where(Delivery.subscriber_id == subscriber_id)
        .order_by(Delivery.created_at.desc(), Delivery.id.desc())
        .limit(limit)
    )
    return SubscriberHistory(
        id=subscriber.id,
        email=subscriber.email,
        name=subscriber.name,
        status=subscriber.status,
        source=subscriber.source,
        time_zone=subscriber.time_zone,
        created_at=subscriber.created_at,
        confirmed_at=subscriber.confirmed_at,
        unsubscribed_at=subscriber.unsubscribed_at,
        events=[HistoryEvent(e.kind, e.detail, e.created_at) for e in events],
        deliveries=[
            DeliveryRecord(
                issue_id=d.issue_id,
                issue_number=number,
                subject=subject,
                status=d.status,
                attempts=d.attempts,
                last_code=d.last_code,
                last_reply=d.last_reply or "",
                queued_at=d.created_at,
                sent_at=d.sent_at,
                next_attempt_at=d.next_attempt_at,
            )
            for d, number, subject in deliveries
        ],
    )
