"""An A/B test as the editor sees it: its settings and, per subject, readers sent and unique
opens and clicks. Two grouped queries, whatever the size of the send."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, func, select
from sqlalchemy.orm import Session, sessionmaker

from newsletter.abtests.models import AbState, AbTest, AbVariant
from newsletter.delivery.models import Delivery, DeliveryStatus
from newsletter.issues.models import TrackingEvent
from newsletter.issues.tracking import CLICK, OPEN


@dataclass(frozen=True)
class VariantFigures:
    """One subject's share of the test (the winner's later send to the rest is not in it)."""

    idx: int
    letter: str  # A-D, as the editor names them
    subject: str
    queued: int  # readers given this subject in the test, whatever became of their delivery
    sent: int
    unique_opens: int
    unique_clicks: int


@dataclass(frozen=True)
class AbSummary:
    issue_id: int
    state: str  # ready, testing, decided
    fraction: float
    metric: str
    wait_hours: float
    started_at: datetime | None
    decide_at: datetime | None  # when the scheduler decides (started_at + wait_hours)
    decided_at: datetime | None
    winner: int | None
    variants: list[VariantFigures]

    def as_dict(self) -> dict[str, Any]:
        """The ``"ab"`` object of ``issues status|figures --json``, ``issues ab --json`` and the API."""
        out = asdict(self)
        for key in ("started_at", "decide_at", "decided_at"):
            out[key] = out[key].isoformat() if out[key] is not None else None
        return out


def letter(idx: int) -> str:
    return "ABCD"[idx]


def load_summary(sessions: sessionmaker[Session], issue_id: int) -> AbSummary | None:
    """The issue's test with its figures; None when it has none."""
    with sessions() as session:
        return summary_in(session, issue_id)


def summary_in(session: Session, issue_id: int) -> AbSummary | None:
    test = session.get(AbTest, issue_id)
    if test is None:
        return None
    started = test.started_at
    return AbSummary(
        issue_id, test.state, test.fraction, test.metric, test.wait_hours, started,
        started + timedelta(hours=test.wait_hours) if started is not None and test.state == AbState.TESTING else None,
        test.decided_at, test.winner, variant_figures(session, issue_id),
    )


def variant_figures(session: Session, issue_id: int) -> list[VariantFigures]:
    """Per subject: the test's readers, those sent, and those who opened or clicked (each once)."""
    subjects = dict(session.execute(
        select(AbVariant.idx, AbVariant.subject).where(AbVariant.issue_id == issue_id).order_by(AbVariant.idx)
    ).all())
    sent = {
        variant: (int(queued), int(done or 0))
        for variant, queued, done in session.execute(
            select(Delivery.variant, func.count(),
                   func.sum(case((Delivery.status == DeliveryStatus.SENT, 1), else_=0)))
            .where(Delivery.issue_id == issue_id, Delivery.variant.is_not(None))
            .group_by(Delivery.variant)
        )
    }
    # A reader's opens count once, under the subject their delivery carried: a join on the
    # (issue, subscriber) key; an erased reader's events (NULL) are in no variant.
    engaged = {
        (variant, kind): int(n)
        for variant, kind, n in session.execute(
            select(Delivery.variant, TrackingEvent.kind, func.count(TrackingEvent.subscriber_id.distinct()))
            .join(Delivery, and_(Delivery.issue_id == TrackingEvent.issue_id,
                                 Delivery.subscriber_id == TrackingEvent.subscriber_id))
            .where(TrackingEvent.issue_id == issue_id, Delivery.variant.is_not(None))
            .group_by(Delivery.variant, TrackingEvent.kind)
        )
    }
    return [
        VariantFigures(idx, letter(idx), subject, *sent.get(idx, (0, 0)),
                       engaged.get((idx, OPEN), 0), engaged.get((idx, CLICK), 0))
        for idx, subject in subjects.items()
    ]
