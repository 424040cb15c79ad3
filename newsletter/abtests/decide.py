"""Deciding an A/B test: the winner by unique opens (or clicks) per reader sent, then the rest of
the list queued with the winner's subject, once.

One transaction on the issue's send guard (``SqlDeliveryStore.enqueue_more``: the issue row
locked, sending or paused): the test moves testing -> decided by a compare-and-set, the issue's
subject becomes the winner's, and every reader without a delivery yet is queued (``ON CONFLICT
DO NOTHING`` on (issue, subscriber), so nobody in the test share is mailed again). Of two
deciders at once (two schedulers, an editor and a scheduler) one decides; the other finds it
decided and queues nobody.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from fractions import Fraction

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from newsletter.abtests.figures import VariantFigures, letter, variant_figures
from newsletter.abtests.models import AbMetric, AbState, AbTest
from newsletter.abtests.queue import moved
from newsletter.audience.segments import issue_audience
from newsletter.delivery.enqueue import add_readers
from newsletter.delivery.store import UNDER_WAY
from newsletter.errors import Conflict
from newsletter.issues.models import Issue
from newsletter.issues.publishing import IssueNotFound
from newsletter.services import Services


class AbTestStateError(Conflict):
    """The test cannot be decided now (none, not sent yet, already decided, issue cancelled)."""


@dataclass(frozen=True)
class AbDecision:
    issue_id: int
    winner: int
    subject: str
    queued: int  # the rest of the list, now queued with the winner's subject

    @property
    def letter(self) -> str:
        return letter(self.winner)


def pick_winner(variants: Sequence[VariantFigures], metric: str) -> int:
    """The highest share of readers sent who opened (or clicked); a tie goes to the lowest index
    (A, the issue's own subject, wins when nothing tells the subjects apart)."""
    def rate(v: VariantFigures) -> Fraction:
        engaged = v.unique_clicks if metric == AbMetric.CLICKS.value else v.unique_opens
        return Fraction(engaged, v.sent) if v.sent else Fraction(0)

    best = max(variants, key=lambda v: (rate(v), -v.idx), default=None)
    return best.idx if best is not None else 0


def decide(services: Services, issue_id: int, now: datetime) -> AbDecision:
    """Decide the issue's test now, whatever its wait (the editor's "decide now", and the scheduler
    when the wait is over); AbTestStateError when there is nothing to decide."""
    decided: list[AbDecision] = []

    def fill(session: Session) -> int:
        test = session.get(AbTest, issue_id, populate_existing=True)
        if test is None or test.state != AbState.TESTING.value:
            return 0
        figures = variant_figures(session, issue_id)
        winner = pick_winner(figures, test.metric)
        if not moved(session.execute(
            update(AbTest).where(AbTest.issue_id == issue_id, AbTest.state == AbState.TESTING.value)
            .values(state=AbState.DECIDED.value, winner=winner, decided_at=now),
            execution_options={"synchronize_session": False},
        )):
            return 0
        subject = next(v.subject for v in figures if v.idx == winner)
        # The archive, the figures and every later reader show the winner's subject: the rest
        # are queued with no variant, and workers compile them from the issue's subject.
        session.execute(update(Issue).where(Issue.id == issue_id).values(subject=subject),
                        execution_options={"synchronize_session": False})
        # The rest of the send: the segment it was sent to, when there is one.
        queued = add_readers(session, issue_id, None, None, issue_audience(session, issue_id))
        decided.append(AbDecision(issue_id, winner, subject, queued))
        return queued

    result = services.store.enqueue_more(issue_id, fill=fill)
    if decided:
        return decided[0]
    raise AbTestStateError(_why_not(services, issue_id, result is None))


def _why_not(services: Services, issue_id: int, issue_refused: bool) -> str:
    with services.sessions() as session:
        issue = session.get(Issue, issue_id)
        if issue is None:
            raise IssueNotFound(f"there is no issue {issue_id}")
        test = session.get(AbTest, issue_id)
    head = f"cannot decide the A/B test of issue {issue_id}"
    if test is None:
        return f"{head}: it has none"
    if test.state == AbState.READY.value:
        return f"{head}: the issue is not sent yet (its send queues the test share first)"
    if test.state == AbState.DECIDED.value:
        return f"{head}: it is decided ({letter(test.winner or 0)} won)"
    if issue_refused:
        return f"{head}: the issue is {issue.status.value}"
    return f"{head}: it changed meanwhile"


def decide_due(services: Services, now: datetime) -> list[tuple[str, str, str]]:
    """The scheduler's part: decide every test whose wait is over at ``now``; (week, kind,
    detail) per issue. A test another scheduler decided meanwhile is left alone."""
    with services.sessions() as session:
        rows = session.execute(
            select(AbTest.issue_id, AbTest.started_at, AbTest.wait_hours, Issue.week)
            .join(Issue, Issue.id == AbTest.issue_id)
            .where(AbTest.state == AbState.TESTING.value, Issue.status.in_(UNDER_WAY))
            .order_by(AbTest.started_at)
        ).all()
    events: list[tuple[str, str, str]] = []
    for issue_id, started_at, wait_hours, week in rows:
        if started_at is None or started_at + timedelta(hours=wait_hours) > now:
            continue
        try:
            decision = decide(services, issue_id, now)
        except AbTestStateError:
            continue  # decided by someone else, or the issue was cancelled meanwhile
        events.append((week or "-", "ab_decided",
                       f"issue {issue_id}: subject {decision.letter} won ({decision.subject!r}); "
                       f"{decision.queued} more deliveries queued with it"))
    return events

