"""The issue page's scheduling: a one-off send time, unscheduling, approving a weekly draft, and
the weekly schedule's next send time for the issues list."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Form
from starlette.responses import RedirectResponse, Response

from newsletter.schedule.cycle import CycleRunner
from newsletter.schedule.issue_status import UTC_FORMAT
from newsletter.schedule.weekly import ScheduleError, load_schedule, next_runs
from newsletter.schedule.sends import parse_local, schedule_issue, unschedule_issue
from newsletter.db.base import utcnow
from newsletter.issues.publishing import IssueStateError
from newsletter.services import Services
from newsletter.web.admin.auth import AdminAuth, AdminSession
from newsletter.web.pages import Pages

def next_send(services: Services, now: datetime | None = None) -> str:
    """One line for the issues list: when the weekly schedule sends next."""
    schedule = load_schedule(services.sessions, services.settings)
    runs = [r for r in next_runs(schedule, now or utcnow(), n=2) if r.kind == "send"]
    if not runs:
        return ""
    run = runs[0]
    return (f"Next weekly send: {run.local:%a %d %b %Y %H:%M %Z} ({run.utc:%H:%M} UTC), "
            f"mode {schedule.mode.value}.")


def admin_schedule_router(services: Services, pages: Pages, auth: AdminAuth) -> APIRouter:
    router = APIRouter(prefix="/admin", dependencies=[Depends(auth.require)])
    csrf = Depends(auth.require_csrf)  # see admin.py: a default, not an Annotated alias

    def to_issue(issue_id: int, kind: str, text: str) -> Response:
        return pages.flash(RedirectResponse(f"/admin/issues/{issue_id}", status_code=303), kind, text)

    @router.post("/issues/{issue_id}/schedule")
    def schedule(
        issue_id: int,
        send_at: Annotated[str, Form()] = "",
        time_zone: Annotated[str, Form()] = "",
        _: AdminSession = csrf,
    ) -> Response:
        zone = time_zone.strip() or load_schedule(services.sessions, services.settings).time_zone
        try:
            at = parse_local(send_at, zone)
            schedule_issue(services, issue_id, at, utcnow())
        except (ScheduleError, IssueStateError) as exc:
            return to_issue(issue_id, "error", f"Not scheduled: {exc}")
        return to_issue(issue_id, "ok", f"Scheduled for {at:{UTC_FORMAT}}; the scheduler sends it then.")

    @router.post("/issues/{issue_id}/unschedule")
    def unschedule(issue_id: int, _: AdminSession = csrf) -> Response:
        try:
            unschedule_issue(services, issue_id)
        except IssueStateError as exc:
            return to_issue(issue_id, "error", f"Not unscheduled: {exc}")
        return to_issue(issue_id, "ok", "Unscheduled: the issue is a draft again; nothing is sent.")

    @router.post("/issues/{issue_id}/approve")
    def approve(issue_id: int, _: AdminSession = csrf) -> Response:
        try:
            approval = CycleRunner(services).approve(issue_id)
        except IssueStateError as exc:
            return to_issue(issue_id, "error", f"Not approved: {exc}")
        return to_issue(issue_id, "ok", f"Approved: {approval.week}'s issue is sent at the send time.")

    return router
