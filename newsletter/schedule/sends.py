"""The sending side of the cycle: local-time waves (each reader at the send time in their own zone) and
one-off sends of issues scheduled by hand."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import func, select

from newsletter.delivery.store import STARTABLE
from newsletter.issues.compose import Week
from newsletter.schedule.weekly import Schedule, ScheduleError, parse_zone, send_at
from newsletter.issues.models import Issue, IssueStatus
from newsletter.readers.models import Subscriber, SubscriberStatus
from newsletter.issues.publishing import IssueNotFound, IssueStateError, forget_render
from newsletter.services import Services

# The first and the last places a wall time comes (UTC+14 and UTC-12; Etc/ signs are inverted).
EARLIEST_ZONE = "Etc/GMT-14"
LATEST_ZONE = "Etc/GMT+12"


@dataclass
class WaveResult:
    zones: list[str] = field(default_factory=list)  # queued by this call
    finished: bool = False  # every zone on Earth has reached the send time: no more waves
    note: str = ""
    details: list[str] = field(default_factory=list)


def first_wave_at(schedule: Schedule, week: Week) -> datetime:
    return send_at(schedule, week, EARLIEST_ZONE)


def _zone(name: str, fallback: ZoneInfo) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return fallback  # a reader's unknown zone is timed as the list's zone


def run_waves(
    services: Services, issue_id: int, week: Week, done: list[str], schedule: Schedule, now: datetime
) -> WaveResult:
    """Queue the readers of every zone whose local send time has come and that was not queued yet."""
    result = WaveResult()
    with services.sessions() as session:
        status = session.scalar(select(Issue.status).where(Issue.id == issue_id))
        zones = set(session.scalars(
            select(func.coalesce(Subscriber.time_zone, schedule.time_zone)).distinct()
            .where(Subscriber.status == SubscriberStatus.ACTIVE)
        ))
    if status is None or status is IssueStatus.CANCELLED:
        result.finished, result.note = True, f"issue {issue_id} was cancelled; no more waves"
        result.details.append(result.note)
        return result
    due = sorted(z for z in zones - set(done) if now >= send_at(schedule, week, _zone(z, schedule.zone)))
    if due:
        try:
            if status in STARTABLE:
                # The first wave starts the send, as any send does (no preflight gate, as before).
                queued = services.publisher.queue(issue_id, force=True, zones=due, default_zone=schedule.time_zone,
                                                  now=now)
            else:
                # The later ones add readers to the send under way, never reopen a sent issue.
                queued = services.publisher.queue_more(issue_id, zones=due, default_zone=schedule.time_zone)
        except IssueStateError as exc:
            # Sent or cancelled by hand meanwhile: a send by hand queued every zone at once.
            result.finished, result.note = True, f"{exc}; no more waves"
            result.details.append(result.note)
            return result
        result.zones = due
        result.details.append(f"issue {issue_id}: {queued.queued} deliveries queued for {', '.join(due)}")
    result.finished = now >= send_at(schedule, week, LATEST_ZONE)
    return result


def one_off_sends(services: Services, now: datetime) -> list[tuple[str, str, str]]:
    """Queue issues scheduled by hand whose time has come: (week, kind, detail) per issue.

    Queueing moves the issue from scheduled to sending in the transaction that queues it, so it
    is not picked up again; one the editor sent by hand meanwhile is no longer scheduled, and
    if that happens between the look and the queueing, the queueing is refused (an ``error``
    event saying the issue is sending), never a second send.
    """
    grace = timedelta(hours=services.settings.schedule_grace_hours)
    with services.sessions() as session:
        due = list(session.execute(
            select(Issue.id, Issue.week, Issue.scheduled_at)
            .where(Issue.status == IssueStatus.SCHEDULED, Issue.scheduled_at <= now)
            .order_by(Issue.scheduled_at)
        ))
    events: list[tuple[str, str, str]] = []
    for issue_id, week, at in due:
        label = week or "-"
        try:
            queued = services.publisher.queue(issue_id, now=now)
        except (IssueNotFound, IssueStateError) as exc:
            events.append((label, "error", str(exc)))
            continue
        detail = f"issue {issue_id} scheduled for {at:%Y-%m-%d %H:%M} UTC: {queued.queued} deliveries queued"
        if at is not None and now - at > grace:
            detail += f" late by {now - at} (the scheduler was not running)"
        events.append((label, "scheduled_send", detail))
    return events


def parse_local(text: str, zone: str) -> datetime:
    """``"2026-12-05 07:00"`` in ``zone`` as aware UTC (a repeated wall time is the first one)."""
    tz = ZoneInfo(parse_zone(zone))
    try:
        naive = datetime.strptime(" ".join(text.replace("T", " ").split()), "%Y-%m-%d %H:%M")
    except ValueError as exc:
        raise ScheduleError(f"unknown date and time {text!r}: expected YYYY-MM-DD HH:MM, e.g. 2026-12-05 07:00") from exc
    return naive.replace(tzinfo=tz).astimezone(timezone.utc)


def schedule_issue(services: Services, issue_id: int, at: datetime, now: datetime) -> None:
    """A one-off send: the draft is queued by the scheduler at ``at`` (aware UTC)."""
    if at <= now:
        raise ScheduleError(f"{at:%Y-%m-%d %H:%M} UTC is in the past: expected a time after now")
    with services.sessions.begin() as session:
        issue = session.get(Issue, issue_id)
        if issue is None:
            raise IssueNotFound(f"there is no issue {issue_id}")
        if issue.status not in (IssueStatus.DRAFT, IssueStatus.SCHEDULED):
            raise IssueStateError(f"cannot schedule issue {issue_id}: it is {issue.status.value}")
        issue.status, issue.scheduled_at = IssueStatus.SCHEDULED, at
        forget_render(issue)  # the masthead shows the planned send's date


def unschedule_issue(services: Services, issue_id: int) -> None:
    """Back to a draft; nothing is sent."""
    with services.sessions.begin() as session:
        issue = session.get(Issue, issue_id)
        if issue is None:
            raise IssueNotFound(f"there is no issue {issue_id}")
        if issue.status is not IssueStatus.SCHEDULED:
            raise IssueStateError(f"cannot unschedule issue {issue_id}: it is {issue.status.value}")
        issue.status, issue.scheduled_at = IssueStatus.DRAFT, None
        forget_render(issue)
