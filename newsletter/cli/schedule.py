"""`newsletter schedule ...`: show and change the weekly compose-and-send schedule."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING, Annotated, Any

import typer

from newsletter.cli.common import JsonFlag, ListFlag, emit, services_of, settings_of

if TYPE_CHECKING:  # domain modules are imported inside the commands, so `newsletter --help` starts fast
    from newsletter.schedule.weekly import Schedule

schedule_app = typer.Typer(help="The weekly compose-and-send schedule.", no_args_is_help=True)


def _report(schedule: Schedule, stored: bool, slug: str) -> tuple[dict[str, Any], str]:
    from newsletter.schedule.weekly import next_runs

    runs = next_runs(schedule, datetime.now(timezone.utc))
    data = {
        "list": slug,
        "schedule": schedule.as_dict(),
        "stored": stored,  # False: the Settings' defaults, never changed with `schedule set`
        "next_runs": [{"kind": r.kind, "local": r.local.isoformat(), "utc": r.utc.isoformat()} for r in runs],
    }
    lines = [
        f"list     {slug}",
        f"compose  {schedule.compose_day} {schedule.compose_time}",
        f"send     {schedule.send_day} {schedule.send_time}",
        f"zone     {schedule.time_zone}",
        f"mode     {schedule.mode.value}" + ("" if stored else "   (defaults from the settings)"),
        "next runs:",
    ]
    lines += [f"  {r.kind:7} {r.local:%a %Y-%m-%d %H:%M %Z}   {r.utc:%Y-%m-%d %H:%M} UTC" for r in runs]
    return data, "\n".join(lines)


@schedule_app.command("show")
def show_cmd(ctx: typer.Context, list_slug: ListFlag = None, as_json: JsonFlag = False) -> None:
    """The list's schedule and the next five compose and send times, in its zone and in UTC."""
    from newsletter.lists.catalog import list_by_slug
    from newsletter.schedule.weekly import load_schedule, schedule_is_stored

    with services_of(ctx) as services:
        found = list_by_slug(services.sessions, list_slug)
        schedule = load_schedule(services.sessions, settings_of(ctx), found.id)
        stored = schedule_is_stored(services.sessions, found.id)
    emit(as_json, *_report(schedule, stored, found.slug))


@schedule_app.command("set")
def set_cmd(
    ctx: typer.Context,
    compose: Annotated[str | None, typer.Option("--compose", help='Day and time to compose, e.g. "fri 16:00".')] = None,
    send: Annotated[str | None, typer.Option("--send", help='Day and time to send, e.g. "sat 07:00".')] = None,
    tz: Annotated[str | None, typer.Option("--tz", help="IANA time zone, e.g. Europe/London.")] = None,
    mode: Annotated[str | None, typer.Option("--mode", help="auto, approve or local-time.")] = None,
    list_slug: ListFlag = None,
    as_json: JsonFlag = False,
) -> None:
    """Change any of compose time, send time, zone and mode of the list's schedule; the rest keep
    their values. A list other than the first is on the weekly cycle once its schedule is set."""
    from newsletter.lists.catalog import list_by_slug
    from newsletter.schedule.weekly import ScheduleError, update_schedule

    if compose is None and send is None and tz is None and mode is None:
        raise ScheduleError("nothing to change: give at least one of --compose, --send, --tz, --mode")
    with services_of(ctx) as services:
        found = list_by_slug(services.sessions, list_slug)  # unknown list: nothing changed
        schedule = update_schedule(services.sessions, settings_of(ctx), compose=compose, send=send,
                                   time_zone=tz, mode=mode, list_id=found.id)
    emit(as_json, *_report(schedule, True, found.slug))
