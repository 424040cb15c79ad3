"""The weekly cycle: compose, approve and send each list's ISO week's issue exactly once.

``CycleRunner.tick(now)`` is the one entry point; the scheduler calls it every few seconds and
once at start. For each list on the cycle (`weekly.cycle_lists`), on that list's own schedule, it
works out from the clock and the list's ``weekly_cycle`` row what is due and does it.
Exactly-once comes from the row, not the clock: composing a list's week is claimed by inserting
the row (its primary key is (list, week), so a second process fails on the insert), and every later
step is a compare-and-set of the row's state (``UPDATE ... WHERE state = ...``, after a
``SELECT ... FOR UPDATE`` on PostgreSQL), so of two schedulers ticking at the same moment one
does the step and the other finds it done. Queueing is idempotent besides (one delivery per
reader and issue), so a step repeated after a crash adds nobody twice.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, exists, select, update
from sqlalchemy.exc import IntegrityError

from newsletter.issues.compose import NoArticles, Week, compose_in
from newsletter.schedule.notify import tell_editor
from newsletter.schedule.weekly import Schedule, compose_at, cycle_lists, load_schedule, send_at
from newsletter.schedule.sends import first_wave_at, one_off_sends, run_waves
from newsletter.abtests.decide import decide_due
from newsletter.db.base import utcnow
from newsletter.delivery.store import UNDER_WAY
from newsletter.issues.models import Issue, IssueStatus
from newsletter.schedule.models import CycleState, ScheduleMode, WeeklyCycle
from newsletter.issues.publishing import IssueNotFound, IssueStateError, PreflightFailed
from newsletter.lists.catalog import list_by_id
from newsletter.lists.models import FIRST_LIST_ID
from newsletter.services import Services

log = logging.getLogger(__name__)
# A send claimed but not recorded as queued this long ago: its process died in between; queue again.
RECOVER_AFTER = timedelta(minutes=10)
DONE = (CycleState.SENT, CycleState.EMPTY, CycleState.NOT_APPROVED, CycleState.MISSED)
UNDECIDED = (CycleState.COMPOSED, CycleState.AWAITING_APPROVAL)


@dataclass(frozen=True)
class CycleEvent:
    """Something the cycle did, for the log."""

    week: str
    kind: str  # composed, awaiting_approval, empty, queued, wave, sent, not_approved, missed, scheduled_send,
    # ab_decided, error
    detail: str
    list_id: int = FIRST_LIST_ID


@dataclass(frozen=True)
class Approval:
    issue_id: int
    week: str
    approved_at: datetime


@dataclass(frozen=True)
class _Key:
    """One list's week: the ``weekly_cycle`` row's primary key."""

    list_id: int
    week: str
    name: str  # how the editor's emails name the list: "" for the first list, as before

    def event(self, kind: str, detail: str) -> CycleEvent:
        return CycleEvent(self.week, kind, detail, self.list_id)

    def subject(self, text: str) -> str:
        return f"{self.name}: {text}" if self.name else text


@dataclass(frozen=True)
class _Plan:
    key: _Key
    week: Week
    compose_at: datetime
    send_at: datetime  # in the schedule's zone
    sending_from: datetime  # when sending may start: send_at, or the first local-time wave
    superseded: bool  # a later week's send time has come: this one is never sent late


class CycleRunner:
    def __init__(self, services: Services) -> None:
        self._services = services
        self._sessions = services.sessions
        self._settings = services.settings

    # -- the entry point -------------------------------------------------------------------

    def tick(self, now: datetime | None = None) -> list[CycleEvent]:
        """Do whatever is due at ``now`` for each list's previous and current ISO week, once."""
        now = now or utcnow()
        events: list[CycleEvent] = []
        for list_id in cycle_lists(self._sessions):
            try:
                events += self._tick_list(list_id, now)
            except Exception as exc:  # one list's failure must not stop the others or the one-off sends
                log.exception("weekly cycle of list %s failed", list_id)
                events.append(CycleEvent("", "error", str(exc), list_id))
        events += [CycleEvent(*e) for e in one_off_sends(self._services, now)]
        events += [CycleEvent(*e) for e in decide_due(self._services, now)]  # A/B tests whose wait is over
        return events

    def _tick_list(self, list_id: int, now: datetime) -> list[CycleEvent]:
        schedule = load_schedule(self._sessions, self._settings, list_id)
        name = "" if list_id == FIRST_LIST_ID else list_by_id(self._sessions, list_id).name
        current = Week.containing(now, schedule.zone)
        previous = current.shift(-1)
        current_send = send_at(schedule, current)
        plans = [self._plan(schedule, _Key(list_id, str(previous), name), previous, superseded=current_send <= now),
                 self._plan(schedule, _Key(list_id, str(current), name), current, False)]
        # Decided before this tick claims any week: a week it marks missed is no earlier start.
        first_start = self._first_start(list_id)
        events = self._sweep(list_id, name, previous, now)
        for plan in plans:
            try:
                events += self._week(plan, schedule, now, first_start)
            except Exception as exc:  # one week's failure must not stop the other or the one-off sends
                log.exception("weekly cycle %s of list %s failed", plan.week, list_id)
                events.append(plan.key.event("error", str(exc)))
        return events

    def approve(self, issue_id: int, now: datetime | None = None) -> Approval:
        """The editor approves a week's draft: it is sent at the send time."""
        now = now or utcnow()
        with self._sessions.begin() as session:
            issue = session.get(Issue, issue_id)
            if issue is None:
                raise IssueNotFound(f"there is no issue {issue_id}")
            row = session.scalar(select(WeeklyCycle).where(WeeklyCycle.issue_id == issue_id).with_for_update())
            if row is None:
                raise IssueStateError(f"cannot approve issue {issue_id}: it is not a weekly issue awaiting approval")
            if row.state is not CycleState.AWAITING_APPROVAL or issue.status is not IssueStatus.DRAFT:
                state = row.state.value.replace("_", " ")
                raise IssueStateError(
                    f"cannot approve issue {issue_id}: it is not awaiting approval (week {row.week} is {state}, "
                    f"the issue is {issue.status.value})"
                )
            if not _moved(session.execute(
                update(WeeklyCycle)
                .where(WeeklyCycle.list_id == row.list_id, WeeklyCycle.week == row.week,
                       WeeklyCycle.state == CycleState.AWAITING_APPROVAL)
                .values(state=CycleState.COMPOSED, updated_at=now)
            )):
                raise IssueStateError(f"cannot approve issue {issue_id}: week {row.week} changed meanwhile")
            issue.approved_at = now
            return Approval(issue_id, row.week, now)

    # -- one week --------------------------------------------------------------------------

    def _plan(self, schedule: Schedule, key: _Key, week: Week, superseded: bool) -> _Plan:
        send = send_at(schedule, week)
        start = first_wave_at(schedule, week) if schedule.mode is ScheduleMode.LOCAL_TIME else send
        return _Plan(key, week, compose_at(schedule, week), send, min(start, send), superseded)

    def _first_start(self, list_id: int) -> bool:
        """No week of the list was ever handled: the scheduler starts (or the list joined the
        cycle) for the first time."""
        with self._sessions() as session:
            return not session.scalar(select(exists().where(WeeklyCycle.list_id == list_id)))

    def _week(self, plan: _Plan, schedule: Schedule, now: datetime, first_start: bool) -> list[CycleEvent]:
        if now < plan.compose_at and now < plan.sending_from:
            return []
        events: list[CycleEvent] = []
        row = self._row(plan.key)
        if row is None:
            if now >= plan.sending_from and self._overdue(plan, now):
                return self._claim_missed(plan, now, first_start)
            if now < plan.compose_at:
                return []
            events += self._compose(plan, schedule, now)  # also when the compose time passed while down
            row = self._row(plan.key)
            if row is None:
                return events
        if now >= plan.sending_from and row.state not in DONE:
            events += self._send(row, plan, schedule, now)
        return events

    def _overdue(self, plan: _Plan, now: datetime) -> bool:
        grace = timedelta(hours=self._settings.schedule_grace_hours)
        return plan.superseded or now > plan.send_at + grace

    def _row(self, key: _Key) -> WeeklyCycle | None:
        with self._sessions() as session:
            return session.get(WeeklyCycle, (key.list_id, key.week))

    def _compose(self, plan: _Plan, schedule: Schedule, now: datetime) -> list[CycleEvent]:
        key = plan.key
        week = key.week
        issue_id, number, note = None, 0, ""
        try:
            with self._sessions.begin() as session:
                row = WeeklyCycle(list_id=key.list_id, week=week, state=CycleState.COMPOSED, send_at=plan.send_at,
                                  composed_at=now, waves_done=[], note="", updated_at=now)
                session.add(row)
                session.flush()  # the claim: a second scheduler fails here on the primary key
                try:
                    result = compose_in(session, self._settings, plan.week, schedule.zone, unsent_only=True,
                                        list_id=key.list_id)
                except NoArticles as exc:
                    row.state, row.note, note = CycleState.EMPTY, str(exc), str(exc)
                else:
                    issue_id, number = result.issue_id, result.number
                    row.issue_id = issue_id
                    if schedule.mode is ScheduleMode.APPROVE:
                        row.state = CycleState.AWAITING_APPROVAL
                state = row.state
        except IntegrityError:
            return []  # another scheduler claimed the week first (or composed the issue number)
        when = _local(plan.send_at, schedule)
        if state is CycleState.EMPTY:
            tell_editor(self._settings, self._services.backend, key.subject(f"nothing to send in {week}"),
                        f"No articles were waiting when {week} was composed, so nothing will be sent on {when}.\n"
                        f"({note})\n")
            return [key.event("empty", note)]
        if state is CycleState.AWAITING_APPROVAL:
            assert issue_id is not None
            link = self._services.links.preview(issue_id)
            tell_editor(self._settings, self._services.backend, key.subject(f"issue #{number} awaits your approval"),
                        f"Issue #{number} for {week} is composed and will be sent on {when} once approved.\n\n"
                        f"Preview: {link}\n\nApprove it with: newsletter issues approve {issue_id}\n"
                        "Without approval nothing is sent this week.\n")
            return [key.event("awaiting_approval", f"issue {issue_id}; preview {link}")]
        return [key.event("composed", f"issue {issue_id} (#{number})")]

    def _claim_missed(self, plan: _Plan, now: datetime, first_start: bool) -> list[CycleEvent]:
        key = plan.key
        note = "the scheduler was not running at the compose and send times; nothing was composed or sent"
        if first_start:
            # The weeks before the very first start were never meant to be sent: no email.
            note = "before the scheduler's first start; nothing was composed or sent"
        try:
            with self._sessions.begin() as session:
                session.add(WeeklyCycle(list_id=key.list_id, week=key.week, state=CycleState.MISSED,
                                        send_at=plan.send_at, waves_done=[], note=note, updated_at=now))
                session.flush()
        except IntegrityError:
            return []
        if not first_start:
            self._tell_missed(key, note)
        return [key.event("missed", note)]

    def _tell_missed(self, key: _Key, note: str) -> None:
        week = key.week
        tell_editor(self._settings, self._services.backend, key.subject(f"{week} was not sent"),
                    f"The issue for {week} was not sent: {note}.\nNothing is sent late after the grace period; "
                    "send it by hand with `newsletter issues send ID` if you still want to.\n")

    def _send(self, row: WeeklyCycle, plan: _Plan, schedule: Schedule, now: datetime) -> list[CycleEvent]:
        key = plan.key
        if row.state is CycleState.SENDING:
            return self._continue(row, plan, schedule, now)
        # Composed or awaiting approval: the send decision, taken once.
        if self._overdue(plan, now):
            late = "a later week is due" if plan.superseded else f"more than {self._settings.schedule_grace_hours:g} h"
            note = f"the scheduler was not running at the send time ({_local(plan.send_at, schedule)}; {late})"
            if self._move(key, row.state, CycleState.MISSED, now, note=note):
                self._tell_missed(key, note)
                return [key.event("missed", note)]
            return []
        with self._sessions() as session:
            issue = session.get(Issue, row.issue_id) if row.issue_id is not None else None
            status, approved = (issue.status, issue.approved_at) if issue else (None, None)
        if status is None or status is IssueStatus.CANCELLED:
            note = "the issue was deleted or cancelled"
            return self._not_approved(key, row.state, now, note)
        if (schedule.mode is ScheduleMode.APPROVE or row.state is CycleState.AWAITING_APPROVAL) and approved is None:
            return self._not_approved(key, row.state, now, f"issue {row.issue_id} was not approved in time")
        if status is not IssueStatus.DRAFT:
            # The editor sent or scheduled it by hand: the week is dispatched, nobody is queued twice.
            note = f"issue {row.issue_id} was already {status.value} by hand"
            self._move(key, row.state, CycleState.SENDING, now, note=note, dispatched_at=now)
            return [key.event("queued", note)]
        if not self._move(key, row.state, CycleState.SENDING, now):
            return []  # another scheduler took this step
        if schedule.mode is ScheduleMode.LOCAL_TIME:
            return self._waves(key, plan, schedule, now)
        return self._queue(key, row.issue_id, now)

    def _continue(self, row: WeeklyCycle, plan: _Plan, schedule: Schedule, now: datetime) -> list[CycleEvent]:
        key = plan.key
        if row.dispatched_at is None:
            if schedule.mode is ScheduleMode.LOCAL_TIME or row.waves_done:
                return self._waves(key, plan, schedule, now)
            if row.updated_at <= now - RECOVER_AFTER and row.issue_id is not None:
                # The claiming process died before recording that it queued: queue, or if it did
                # (the issue is under way), only add whoever joined since.
                return self._queue(key, row.issue_id, now, recovering=True)
            return []
        if self._issue_status(row.issue_id) is IssueStatus.SENT and self._move(key, CycleState.SENDING, CycleState.SENT, now):
            return [key.event("sent", f"issue {row.issue_id} sent")]
        return []

    def _queue(self, key: _Key, issue_id: int | None, now: datetime, recovering: bool = False) -> list[CycleEvent]:
        assert issue_id is not None
        publisher = self._services.publisher
        try:
            if recovering and self._issue_status(issue_id) in UNDER_WAY:
                queued = publisher.queue_more(issue_id)
            else:
                queued = publisher.queue(issue_id, now=now)  # refused unless still a draft: sent once
        except PreflightFailed as exc:
            # Preflight errors block an automatic send: the editor is told once, nothing goes out.
            return self._not_approved(key, CycleState.SENDING, now, f"preflight found errors: {exc}")
        except IssueStateError:
            # Sent, scheduled or cancelled by hand since the send decision: as in ``_send``.
            status = self._issue_status(issue_id)
            if status is None or status is IssueStatus.CANCELLED:
                return self._not_approved(key, CycleState.SENDING, now, "the issue was deleted or cancelled")
            note = f"issue {issue_id} was already {status.value} by hand"
            self._record(key, now, dispatched=True, note=note)
            return [key.event("queued", note)]
        self._record(key, now, dispatched=True)
        return [key.event("queued", f"issue {issue_id}: {queued.queued} deliveries queued")]

    def _issue_status(self, issue_id: int | None) -> IssueStatus | None:
        if issue_id is None:
            return None
        with self._sessions() as session:
            return session.scalar(select(Issue.status).where(Issue.id == issue_id))

    def _waves(self, key: _Key, plan: _Plan, schedule: Schedule, now: datetime) -> list[CycleEvent]:
        row = self._row(key)
        if row is None or row.issue_id is None:
            return []
        result = run_waves(self._services, row.issue_id, plan.week, row.waves_done, schedule, now)
        if result.zones or result.finished:
            self._record(key, now, dispatched=result.finished, zones=result.zones, note=result.note)
        return [key.event("wave", detail) for detail in result.details]

    def _not_approved(self, key: _Key, state: CycleState, now: datetime, note: str) -> list[CycleEvent]:
        if not self._move(key, state, CycleState.NOT_APPROVED, now, note=note):
            return []
        tell_editor(self._settings, self._services.backend, key.subject(f"{key.week} was not sent"),
                    f"Nothing was sent for {key.week}: {note}.\n")
        return [key.event("not_approved", note)]

    def _sweep(self, list_id: int, name: str, previous: Week, now: datetime) -> list[CycleEvent]:
        """The list's weeks older than the previous one still waiting to be sent are missed: never sent late."""
        with self._sessions() as session:
            stale = list(session.execute(
                select(WeeklyCycle.week, WeeklyCycle.state)
                .where(WeeklyCycle.list_id == list_id, WeeklyCycle.week < str(previous),
                       WeeklyCycle.state.in_(UNDECIDED))
            ))
        events = []
        for week, state in stale:
            key = _Key(list_id, week, name)
            note = "the scheduler was not running at the send time; a later week is due"
            if self._move(key, state, CycleState.MISSED, now, note=note):
                self._tell_missed(key, note)
                events.append(key.event("missed", note))
        return events

    # -- row updates -----------------------------------------------------------------------

    def _move(self, key: _Key, from_state: CycleState, to: CycleState, now: datetime, **values: Any) -> bool:
        """Compare-and-set of the list's week's state; False when another process moved it first."""
        mine = (WeeklyCycle.list_id == key.list_id, WeeklyCycle.week == key.week)
        with self._sessions.begin() as session:
            # On PostgreSQL the row lock makes a second scheduler wait here, then see the new state.
            session.execute(select(WeeklyCycle.week).where(*mine).with_for_update())
            return _moved(session.execute(
                update(WeeklyCycle).where(*mine, WeeklyCycle.state == from_state)
                .values(state=to, updated_at=now, **values)
            ))

    def _record(self, key: _Key, now: datetime, dispatched: bool, zones: list[str] | None = None,
                note: str = "") -> None:
        with self._sessions.begin() as session:
            row = session.scalar(select(WeeklyCycle).where(WeeklyCycle.list_id == key.list_id,
                                                            WeeklyCycle.week == key.week).with_for_update())
            if row is None:
                return
            if zones:
                row.waves_done = sorted(set(row.waves_done) | set(zones))  # a new list: JSON changes are not tracked
            if dispatched and row.dispatched_at is None:
                row.dispatched_at = now
            if note:
                row.note = note
            row.updated_at = now


def _moved(result: Any) -> bool:
    return bool(cast("CursorResult[Any]", result).rowcount)


def _local(moment: datetime, schedule: Schedule) -> str:
    return moment.astimezone(schedule.zone).strftime("%a %d %b %Y %H:%M %Z")
