"""What became of one issue: deliveries by outcome, readers who left or complained, opens, clicks.

Every figure is an aggregate query (the trigger-kept tally, grouped counts on indexes), so an
issue of a million deliveries costs a few index walks, not a Python loop over rows.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, exists, func, literal_column, select
from sqlalchemy.orm import Session, aliased, sessionmaker

from newsletter.delivery.models import Delivery
from newsletter.delivery.tally import counts
from newsletter.issues.models import Issue, TrackingEvent
from newsletter.readers.models import SubscriberEvent, SubscriberEventKind
from newsletter.issues.publishing import IssueNotFound
from newsletter.issues.tracking import CLICK, OPEN

ATTRIBUTION_DAYS = 30


@dataclass(frozen=True)
class IssueFigures:
    """One issue's figures; the four tracking figures are None when it was sent untracked."""

    issue_id: int
    recipients: int  # every delivery, whatever its state
    sent: int
    deferred: int
    bounced: int  # refused at once, and sent but bounced later (the delivery is then bounced)
    failed: int
    skipped: int
    complaints: int | None  # None: not attributed (attribution=False)
    unsubscribes: int | None
    opens: int | None
    unique_opens: int | None
    clicks: int | None
    unique_clicks: int | None

    @property
    def tracked(self) -> bool:
        return self.opens is not None

    def as_dict(self) -> dict[str, Any]:
        """The ``issues figures --json`` document: the field names as keys."""
        return asdict(self)


def issue_figures(sessions: sessionmaker[Session], issue_id: int, *, attribution: bool = True) -> IssueFigures:
    """The figures of one issue; IssueNotFound if there is none.

    ``attribution=False`` leaves unsubscribes and complaints out (None): a list of many issues
    that does not show them need not pay for the event scan below, once per issue.

    Unsubscribes and complaints: a reader's ``unsubscribed`` or ``complained`` event counts for
    the most recent issue actually sent to that reader (its delivery has a ``sent_at``) at or
    before the event, and only if that send was at most 30 days before it. So each event counts
    for one issue at most, and a reader who left long after an issue does not count against it.
    """
    with sessions() as session:
        tracking = session.scalar(select(Issue.tracking).where(Issue.id == issue_id))
        if tracking is None:
            raise IssueNotFound(f"there is no issue {issue_id}")
        tally = counts(session, issue_id)
        left = _left(session, issue_id) if attribution else None
        opens, unique_opens, clicks, unique_clicks = _tracked(session, issue_id) if tracking else (None,) * 4
    return IssueFigures(
        issue_id=issue_id,
        recipients=int(sum(tally.values())),
        sent=int(tally.get("sent", 0)),
        deferred=int(tally.get("deferred", 0)),
        bounced=int(tally.get("bounced", 0)),
        failed=int(tally.get("failed", 0)),
        skipped=int(tally.get("skipped", 0)),
        complaints=None if left is None else left.get(SubscriberEventKind.COMPLAINED, 0),
        unsubscribes=None if left is None else left.get(SubscriberEventKind.UNSUBSCRIBED, 0),
        opens=opens,
        unique_opens=unique_opens,
        clicks=clicks,
        unique_clicks=unique_clicks,
    )


def _days_before(moment: Any, days: int, dialect: str) -> ColumnElement[Any]:
    # Date arithmetic in SQL, so the 30-day rule is applied by the database, row by row.
    if dialect == "postgresql":
        return moment - literal_column(f"interval '{int(days)} days'")  # type: ignore[no-any-return]
    # SQLite keeps naive UTC as ISO text; datetime() gives the same sortable spelling.
    return func.datetime(moment, f"-{int(days)} days")


def _left(session: Session, issue_id: int) -> dict[SubscriberEventKind, int]:
    """Unsubscribes and complaints attributed to this issue (the rule in ``issue_figures``)."""
    first, last = session.execute(
        select(func.min(Delivery.sent_at), func.max(Delivery.sent_at)).where(Delivery.issue_id == issue_id)
    ).one()
    if first is None or last is None:  # nothing sent yet: nobody can have left because of it
        return {}
    dialect = session.get_bind().dialect.name
    event = SubscriberEvent
    this, later = aliased(Delivery), aliased(Delivery)
    sent_between = exists().where(  # another issue reached the reader after this one, before the event
        later.subscriber_id == event.subscriber_id,
        later.sent_at > this.sent_at,
        later.sent_at <= event.created_at,
    )
    rows = session.execute(
        select(event.kind, func.count())
        .join(this, and_(this.issue_id == issue_id, this.subscriber_id == event.subscriber_id))
        .where(
            event.kind.in_([SubscriberEventKind.UNSUBSCRIBED, SubscriberEventKind.COMPLAINED]),
            # Bounds from this issue's send: the database skips events that cannot be its own.
            event.created_at >= first,
            event.created_at <= last + timedelta(days=ATTRIBUTION_DAYS),
            this.sent_at.is_not(None),
            this.sent_at <= event.created_at,
            this.sent_at >= _days_before(event.created_at, ATTRIBUTION_DAYS, dialect),
            ~sent_between,
        )
        .group_by(event.kind)
    ).all()
    return {SubscriberEventKind(kind): int(n) for kind, n in rows}


def _tracked(session: Session, issue_id: int) -> tuple[int, int, int, int]:
    """(opens, unique opens, clicks, unique clicks): one grouped count on the tracking index."""
    rows = session.execute(
        select(TrackingEvent.kind, func.count(), func.count(TrackingEvent.subscriber_id.distinct()))
        .where(TrackingEvent.issue_id == issue_id)
        .group_by(TrackingEvent.kind)
    ).all()
    found = {kind: (int(total), int(unique)) for kind, total, unique in rows}
    opens, clicks = found.get(OPEN, (0, 0)), found.get(CLICK, (0, 0))
    return opens[0], opens[1], clicks[0], clicks[1]
