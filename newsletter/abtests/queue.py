"""The A/B parts of queueing a send, run inside the send's transaction (after its guard on the
issue row): the test share instead of the whole list, and no local-time wave while the test runs."""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import ColumnElement, CursorResult, exists, func, select, update
from sqlalchemy.orm import Session, sessionmaker

from newsletter.abtests.models import AbState, AbTest, AbVariant
from newsletter.delivery.enqueue import add_sample
from newsletter.issues.models import Issue


def pending_test(sessions: sessionmaker[Session], issue_id: int) -> bool:
    """Whether the issue has a test set that its send will start."""
    with sessions() as session:
        return bool(session.scalar(select(exists().where(AbTest.issue_id == issue_id,
                                                         AbTest.state == AbState.READY.value))))


def start_test(session: Session, issue_id: int, now: datetime, audience: ColumnElement[bool] | None = None) -> int | None:
    """Queue the test share (ready -> testing, a compare-and-set); None when the issue has no
    ready test any more (taken off meanwhile): the caller queues the whole list instead."""
    row = session.execute(
        update(AbTest).where(AbTest.issue_id == issue_id, AbTest.state == AbState.READY.value)
        .values(state=AbState.TESTING.value, started_at=now)
        .returning(AbTest.fraction),
    ).first()
    if row is None:
        return None
    # A is the subject the draft has now (the editor may have changed it since the test was set).
    session.execute(
        update(AbVariant).where(AbVariant.issue_id == issue_id, AbVariant.idx == 0)
        .values(subject=select(Issue.subject).where(Issue.id == issue_id).scalar_subquery()),
        execution_options={"synchronize_session": False},
    )
    variants = int(session.scalar(select(func.count()).where(AbVariant.issue_id == issue_id)) or 0)
    return add_sample(session, issue_id, float(row.fraction), variants, audience)


def testing(session: Session, issue_id: int) -> bool:
    """The issue's test share is out and the winner not chosen: the rest of the list waits for
    the decision, which queues them all with the winner's subject."""
    return bool(session.scalar(select(exists().where(AbTest.issue_id == issue_id,
                                                     AbTest.state == AbState.TESTING.value))))


def moved(result: Any) -> bool:
    return bool(cast("CursorResult[Any]", result).rowcount)
