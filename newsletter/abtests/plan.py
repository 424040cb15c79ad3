"""Setting an A/B subject test on a draft (or a scheduled issue), and taking it off.

The draft's own subject is A; the editor adds one to three more. Nothing is sent here: the send
(``Publisher.queue``) queues the test share, the scheduler decides (``abtests.decide``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from sqlalchemy import CursorResult, delete, update
from sqlalchemy.orm import Session, sessionmaker

from newsletter.abtests.figures import AbSummary, summary_in
from newsletter.abtests.models import AbMetric, AbState, AbTest, AbVariant
from newsletter.config import Settings
from newsletter.delivery.store import STARTABLE
from newsletter.errors import Conflict, InvalidInput
from newsletter.issues.models import Issue
from newsletter.issues.publishing import IssueNotFound, IssueStateError
from newsletter.issues.tracking import tracking_enabled

MAX_SUBJECTS = 4
MAX_SUBJECT_LENGTH = 300  # issue.subject's column
MAX_WAIT_HOURS = 30 * 24
DEFAULT_FRACTION = 0.2
DEFAULT_WAIT_HOURS = 4.0


class AbTestInvalid(InvalidInput):
    """A test's subjects, fraction, metric or wait are wrong; the message says which."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


class AbTestNeedsTracking(Conflict):
    """A test picks its winner by opens or clicks, which are only counted with tracking on."""


def set_test(
    sessions: sessionmaker[Session], settings: Settings, issue_id: int, subjects: Sequence[str],
    fraction: float = DEFAULT_FRACTION, metric: str = AbMetric.OPENS.value, wait_hours: float = DEFAULT_WAIT_HOURS,
) -> AbSummary:
    """Set (or replace) the issue's test: ``subjects`` are B, C, D besides the draft's own (A).

    Every bad input raises before anything changes; so does an issue already sending or sent.
    """
    others = _subjects(subjects)
    fraction, wait_hours = _fraction(fraction), _wait(wait_hours)
    if metric not in {m.value for m in AbMetric}:
        raise AbTestInvalid(f"unknown metric {metric!r}: expected opens or clicks", "metric")
    if not tracking_enabled(sessions, settings):
        raise AbTestNeedsTracking(
            f"cannot set an A/B test on issue {issue_id}: tracking is off, and the winner is chosen by "
            "opens or clicks, which are only counted with tracking on; turn tracking on in the admin's "
            "Settings first"
        )
    with sessions.begin() as session:
        issue = _lock_unsent(session, issue_id, "set an A/B test on")
        if any(s.casefold() == issue.subject.strip().casefold() for s in others):
            raise AbTestInvalid("each subject must differ from the others and from the issue's own (A)", "subjects")
        session.execute(delete(AbTest).where(AbTest.issue_id == issue_id))
        session.add(AbTest(issue_id=issue_id, fraction=fraction, metric=metric, wait_hours=wait_hours,
                           state=AbState.READY.value))
        session.flush()
        session.add_all(AbVariant(issue_id=issue_id, idx=i, subject=s)
                        for i, s in enumerate([issue.subject, *others]))
        session.flush()
        summary = summary_in(session, issue_id)
    assert summary is not None
    return summary


def clear_test(sessions: sessionmaker[Session], issue_id: int) -> bool:
    """Take the test off an unsent issue (it is then sent to everyone with its own subject);
    returns whether it had one."""
    with sessions.begin() as session:
        _lock_unsent(session, issue_id, "take the A/B test off")
        removed = session.execute(delete(AbTest).where(AbTest.issue_id == issue_id))
        return bool(cast("CursorResult[Any]", removed).rowcount)


def _lock_unsent(session: Session, issue_id: int, verb: str) -> Issue:
    """The issue, still a draft or scheduled, with its row locked against a send starting now
    (the send's own guard takes the same lock: ``SqlDeliveryStore.enqueue``)."""
    guard = session.execute(
        update(Issue).where(Issue.id == issue_id, Issue.status.in_(STARTABLE)).values(status=Issue.status),
        execution_options={"synchronize_session": False},
    )
    issue = session.get(Issue, issue_id)
    if issue is None:
        raise IssueNotFound(f"there is no issue {issue_id}")
    if not cast("CursorResult[Any]", guard).rowcount:
        raise IssueStateError(f"cannot {verb} issue {issue_id}: it is {issue.status.value}")
    return issue


def _subjects(subjects: Sequence[str]) -> list[str]:
    cleaned = [" ".join(s.split()) for s in subjects]  # newlines and tabs are no part of a subject
    if not 1 <= len(cleaned) <= MAX_SUBJECTS - 1:
        raise AbTestInvalid(
            f"an A/B test has 2 to {MAX_SUBJECTS} subjects: the issue's own (A) and 1 to {MAX_SUBJECTS - 1} "
            f"more, got {len(cleaned)} more", "subjects")
    for s in cleaned:
        if not s:
            raise AbTestInvalid("a subject cannot be empty", "subjects")
        if len(s) > MAX_SUBJECT_LENGTH:
            raise AbTestInvalid(f"a subject is at most {MAX_SUBJECT_LENGTH} characters, got {len(s)}", "subjects")
        if any(ord(c) < 32 or ord(c) == 127 for c in s):
            raise AbTestInvalid("a subject cannot hold control characters", "subjects")
    if len({s.casefold() for s in cleaned}) != len(cleaned):
        raise AbTestInvalid("each subject must differ from the others and from the issue's own (A)", "subjects")
    return cleaned


def _fraction(fraction: float) -> float:
    if not 0.0 < fraction < 1.0:  # also NaN
        raise AbTestInvalid(f"the test fraction must be between 0 and 1 (e.g. 0.2 for 20 %), got {fraction}",
                            "fraction")
    return fraction


def _wait(hours: float) -> float:
    if not 0.0 < hours <= MAX_WAIT_HOURS:
        raise AbTestInvalid(f"the wait must be more than 0 and at most {MAX_WAIT_HOURS} hours, got {hours}",
                            "wait_hours")
    return hours
