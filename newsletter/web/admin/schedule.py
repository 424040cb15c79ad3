"""Scheduling in the admin: the weekly cycle's page (/admin/schedule: compose and send day and time,
zone, mode, and the next runs; each list's, ``?list=SLUG``, the first list without it), and the issue page's one-off send time, unscheduling, approving a
weekly draft; plus the weekly schedule's next send time for the issues list."""

from __future__ import annotations

import functools
import zoneinfo
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from starlette.responses import RedirectResponse, Response

from newsletter.config import WEEKDAYS
from newsletter.schedule.cycle import CycleRunner
from newsletter.schedule.issue_status import UTC_FORMAT
from newsletter.schedule.models import ScheduleMode
from newsletter.lists.catalog import ListInfo, all_lists, list_by_slug
from newsletter.schedule.weekly import (
    Schedule,
    ScheduleError,
    load_schedule,
    next_runs,
    schedule_is_stored,
    update_schedule,
)
from newsletter.schedule.sends import parse_local, schedule_issue, unschedule_issue
from newsletter.db.base import utcnow
from newsletter.issues.publishing import IssueStateError
from newsletter.services import Services
from newsletter.web.admin.auth import AdminAuth, AdminSession
from newsletter.web.admin.list_choice import ListSlug, list_query
from newsletter.web.pages import Pages

RUNS_SHOWN = 6  # three weeks of compose and send
DAY_NAMES = dict(zip(WEEKDAYS, ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"), strict=True))
MODES = (  # what each mode means, in the editor's words
    (ScheduleMode.AUTO, "Automatic", "The week's issue is composed and sent at these times by itself "
                                     "(an issue with no articles is not sent)."),
    (ScheduleMode.APPROVE, "Approve first", "The issue is composed, then sent at the send time only once "
                                            "you approve it; you are emailed a link to check it."),
    (ScheduleMode.LOCAL_TIME, "Each reader's local time", "Each reader gets the issue at the send time in "
                                                          "their own time zone, in waves around the world."),
)


@functools.lru_cache(maxsize=1)
def zone_groups() -> tuple[tuple[str, tuple[str, ...]], ...]:
    """Every IANA zone, grouped by region ("Europe", ...; "Other" for UTC and the like) for a <select>.

    Read once: the tzdata files do not change while the server runs."""
    groups: dict[str, list[str]] = {}
    for name in sorted(zoneinfo.available_timezones()):
        region, sep, _ = name.partition("/")
        groups.setdefault(region if sep else "Other", []).append(name)
    return tuple((region, tuple(names)) for region, names in sorted(groups.items()))


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

    def schedule_page(request: Request, mailing_list: ListInfo, status_code: int = 200,
                      values: dict[str, str] | None = None, error: str = "") -> Response:
        current = load_schedule(services.sessions, services.settings, mailing_list.id)
        return pages.render(
            request, "admin_schedule.html", status_code, values=values or current.as_dict(), error=error,
            runs=next_runs(current, utcnow(), n=RUNS_SHOWN), current=current, days=DAY_NAMES, modes=MODES,
            zone_groups=zone_groups(), lists=all_lists(services.sessions), chosen=mailing_list,
            list_query=list_query(mailing_list),
            # Another list joins the weekly cycle when its schedule is first saved (schedule.weekly.cycle_lists).
            on_cycle=mailing_list.first or schedule_is_stored(services.sessions, mailing_list.id),
        )

    @router.get("/schedule")
    def weekly(request: Request, slug: ListSlug = None) -> Response:
        return schedule_page(request, list_by_slug(services.sessions, slug))

    @router.post("/schedule")
    def save_weekly(
        request: Request,
        slug: ListSlug = None,
        compose_day: Annotated[str, Form(max_length=20)] = "",
        compose_time: Annotated[str, Form(max_length=20)] = "",
        send_day: Annotated[str, Form(max_length=20)] = "",
        send_time: Annotated[str, Form(max_length=20)] = "",
        time_zone: Annotated[str, Form(max_length=64)] = "",
        mode: Annotated[str, Form(max_length=20)] = "",
        _: AdminSession = csrf,
    ) -> Response:
        mailing_list = list_by_slug(services.sessions, slug)  # UnknownList: the 404 page, nothing stored
        values = {"compose_day": compose_day, "compose_time": compose_time, "send_day": send_day,
                  "send_time": send_time, "time_zone": time_zone, "mode": mode}
        try:
            # The same service as `newsletter schedule set`: all checked before anything is stored.
            saved: Schedule = update_schedule(
                services.sessions, services.settings, compose=f"{compose_day} {compose_time}",
                send=f"{send_day} {send_time}", time_zone=time_zone, mode=mode, list_id=mailing_list.id)
        except ScheduleError as exc:
            return schedule_page(request, mailing_list, 400, values, f"Not saved: {exc}.")
        text = (f"Saved{'' if mailing_list.first else ' for ' + mailing_list.name}: composed {DAY_NAMES[saved.compose_day]} {saved.compose_time}, sent "
                f"{DAY_NAMES[saved.send_day]} {saved.send_time} ({saved.time_zone}).")
        return pages.flash(RedirectResponse("/admin/schedule" + list_query(mailing_list), status_code=303), "ok", text)

    @router.post("/issues/{issue_id}/schedule")
    def schedule(
        issue_id: int,
        send_at: Annotated[str, Form(max_length=40)] = "",
        time_zone: Annotated[str, Form(max_length=64)] = "",
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
