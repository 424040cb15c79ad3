"""An issue's place in the schedule, as the issue page shows it: a one-off send time, whether the
weekly cycle waits for the editor's approval, and when it was approved."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from newsletter.config import Settings
from newsletter.issues.models import Issue, IssueStatus
from newsletter.schedule.models import CycleState, ScheduleMode, WeeklyCycle
from newsletter.schedule.weekly import load_schedule

LOCAL_FORMAT = "%Y-%m-%d %H:%M %Z"
UTC_FORMAT = "%Y-%m-%d %H:%M UTC"


@dataclass(frozen=True)
class IssueSchedule:
    zone: str  # the list's zone, for the form's hint and the times shown
    scheduled_local: str | None
    scheduled_utc: str | None
    awaiting_approval: bool
    approved_local: str | None


def issue_schedule(sessions: sessionmaker[Session], settings: Settings, issue_id: int) -> IssueSchedule | None:
    """None when there is no such issue. Times are in the zone of the issue's list's schedule."""
    with sessions() as session:
        issue = session.get(Issue, issue_id)
        if issue is None:
            return None
        schedule = load_schedule(sessions, settings, issue.list_id)
        zone = schedule.zone
        state = session.scalar(select(WeeklyCycle.state).where(WeeklyCycle.issue_id == issue_id))
        status, scheduled_at, approved_at = issue.status, issue.scheduled_at, issue.approved_at
    scheduled = scheduled_at if status is IssueStatus.SCHEDULED else None
    awaiting = status is IssueStatus.DRAFT and approved_at is None and (
        state is CycleState.AWAITING_APPROVAL or (state is None and schedule.mode is ScheduleMode.APPROVE)
    )
    return IssueSchedule(
        zone=schedule.time_zone,
        scheduled_local=scheduled.astimezone(zone).strftime(LOCAL_FORMAT) if scheduled else None,
        scheduled_utc=scheduled.strftime(UTC_FORMAT) if scheduled else None,
        awaiting_approval=awaiting,
        approved_local=approved_at.astimezone(zone).strftime(LOCAL_FORMAT) if approved_at else None,
    )
