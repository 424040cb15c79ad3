"""The weekly schedule: when to compose and send, in which zone, in which mode.

Each list has its own: the editor's choice is the list's ``cycle_schedule`` row; until there is
one, the Settings give the defaults. The first list is on the weekly cycle from the start, as a
one-list installation always was; another list joins it once its schedule is set, so creating a
list never starts weekly emails by itself (`cycle_lists`). Wall times are resolved per ISO week with zoneinfo, so DST changes move the UTC time,
never the local one.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from newsletter.errors import InvalidInput
from newsletter.issues.compose import Week
from newsletter.config import WEEKDAYS, Settings
from newsletter.lists.models import FIRST_LIST_ID
from newsletter.schedule.models import CycleSchedule, ScheduleMode



class ScheduleError(InvalidInput):
    """The schedule given is not valid; the message says what is wrong and what is expected."""


@dataclass(frozen=True)
class Schedule:
    compose_day: str  # "mon".."sun"
    compose_time: str  # "HH:MM"
    send_day: str
    send_time: str
    time_zone: str  # IANA name, e.g. "Europe/London"
    mode: ScheduleMode

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)

    def as_dict(self) -> dict[str, str]:
        return {"compose_day": self.compose_day, "compose_time": self.compose_time, "send_day": self.send_day,
                "send_time": self.send_time, "time_zone": self.time_zone, "mode": self.mode.value}


@dataclass(frozen=True)
class Run:
    kind: str  # "compose" | "send"
    local: datetime  # in the schedule's zone
    utc: datetime


def parse_day(text: str) -> str:
    day = text.strip().lower()[:3]
    if len(text.strip()) < 3 or day not in WEEKDAYS:
        raise ScheduleError(f"unknown day {text!r}: expected one of {', '.join(WEEKDAYS)}")
    return day


def parse_time(text: str) -> str:
    hours, sep, minutes = text.strip().partition(":")
    if not (sep and hours.isdigit() and minutes.isdigit() and len(minutes) == 2
            and int(hours) < 24 and int(minutes) < 60):
        raise ScheduleError(f"unknown time {text!r}: expected HH:MM on a 24-hour clock, e.g. 07:00")
    return f"{int(hours):02d}:{int(minutes):02d}"


def parse_slot(text: str) -> tuple[str, str]:
    """``"fri 16:00"`` -> ("fri", "16:00")."""
    parts = text.split()
    if len(parts) != 2:
        raise ScheduleError(f"unknown day and time {text!r}: expected a day and a time, e.g. \"fri 16:00\"")
    return parse_day(parts[0]), parse_time(parts[1])


def parse_zone(name: str) -> str:
    try:
        ZoneInfo(name.strip())
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ScheduleError(f"unknown time zone {name!r}: expected an IANA name such as Europe/London") from exc
    return name.strip()


def parse_mode(text: str) -> ScheduleMode:
    try:
        return ScheduleMode(text.strip().lower())
    except ValueError as exc:
        modes = ", ".join(m.value for m in ScheduleMode)
        raise ScheduleError(f"unknown mode {text!r}: expected one of {modes}") from exc


def minutes_into_week(day: str, clock: str) -> int:
    """Minutes from Monday 00:00: how compose and send are ordered within a week."""
    hours, minutes = (int(part) for part in clock.split(":"))
    return WEEKDAYS.index(day) * 1440 + hours * 60 + minutes


def validate(schedule: Schedule) -> Schedule:
    """The schedule in normal form, or ScheduleError."""
    checked = Schedule(
        compose_day=parse_day(schedule.compose_day),
        compose_time=parse_time(schedule.compose_time),
        send_day=parse_day(schedule.send_day),
        send_time=parse_time(schedule.send_time),
        time_zone=parse_zone(schedule.time_zone),
        mode=parse_mode(schedule.mode.value if isinstance(schedule.mode, ScheduleMode) else str(schedule.mode)),
    )
    if minutes_into_week(checked.send_day, checked.send_time) < minutes_into_week(
        checked.compose_day, checked.compose_time
    ):
        raise ScheduleError(
            f"the send time ({checked.send_day} {checked.send_time}) comes before the compose time "
            f"({checked.compose_day} {checked.compose_time}) in the week: expected compose first, "
            "both within one Monday-to-Sunday week"
        )
    return checked


def default_schedule(settings: Settings) -> Schedule:
    return Schedule(settings.compose_day, settings.compose_time, settings.send_day, settings.send_time,
                    settings.time_zone, ScheduleMode(settings.schedule_mode))


def schedule_is_stored(sessions: sessionmaker[Session], list_id: int = FIRST_LIST_ID) -> bool:
    """Whether the editor set the list's schedule (else the Settings' defaults apply)."""
    with sessions() as session:
        return session.get(CycleSchedule, list_id) is not None


def cycle_lists(sessions: sessionmaker[Session]) -> list[int]:
    """The lists the weekly cycle composes and sends: the first list, and every list whose
    schedule was set."""
    with sessions() as session:
        stored = set(session.scalars(select(CycleSchedule.list_id)))
    return sorted(stored | {FIRST_LIST_ID})


def load_schedule(sessions: sessionmaker[Session], settings: Settings, list_id: int = FIRST_LIST_ID) -> Schedule:
    """The list's stored schedule, else the Settings' defaults."""
    with sessions() as session:
        row = session.get(CycleSchedule, list_id)
        if row is None:
            return default_schedule(settings)
        return Schedule(row.compose_day, row.compose_time, row.send_day, row.send_time, row.time_zone, row.mode)


def save_schedule(sessions: sessionmaker[Session], schedule: Schedule, list_id: int = FIRST_LIST_ID) -> Schedule:
    """Validate and store as the list's; on ScheduleError nothing is stored."""
    checked = validate(schedule)
    with sessions.begin() as session:
        row = session.get(CycleSchedule, list_id)
        if row is None:
            row = CycleSchedule(list_id=list_id)
            session.add(row)
        row.compose_day, row.compose_time = checked.compose_day, checked.compose_time
        row.send_day, row.send_time = checked.send_day, checked.send_time
        row.time_zone, row.mode = checked.time_zone, checked.mode
        row.updated_at = datetime.now(timezone.utc)
    return checked


def update_schedule(
    sessions: sessionmaker[Session], settings: Settings, *, compose: str | None = None, send: str | None = None,
    time_zone: str | None = None, mode: str | None = None, list_id: int = FIRST_LIST_ID,
) -> Schedule:
    """Change some parts of the list's schedule as the editor typed them ("fri 16:00",
    "Europe/London", "auto"), keep the rest.

    Everything is checked before anything is stored: on ScheduleError the stored schedule is unchanged.
    """
    updated = load_schedule(sessions, settings, list_id)
    if compose is not None:
        day, clock = parse_slot(compose)
        updated = replace(updated, compose_day=day, compose_time=clock)
    if send is not None:
        day, clock = parse_slot(send)
        updated = replace(updated, send_day=day, send_time=clock)
    if time_zone is not None:
        updated = replace(updated, time_zone=parse_zone(time_zone))
    if mode is not None:
        updated = replace(updated, mode=parse_mode(mode))
    return save_schedule(sessions, updated, list_id)


def occurrence(week: Week, day: str, clock: str, zone: ZoneInfo | str) -> datetime:
    """The local wall time ``day clock`` of ``week`` in ``zone``, as aware UTC.

    A wall time that happens twice (autumn) is the first one (fold=0); one that never happens
    (the spring gap) comes out shifted forward by the gap: with fold=0 zoneinfo applies the
    offset from before the change, e.g. 01:30 on London's spring day is 01:30 UTC = 02:30 BST.
    """
    tz = zone if isinstance(zone, ZoneInfo) else ZoneInfo(zone)
    hours, minutes = (int(part) for part in clock.split(":"))
    date = week.monday() + timedelta(days=WEEKDAYS.index(day))
    return datetime.combine(date, time(hours, minutes), tz).astimezone(timezone.utc)


def compose_at(schedule: Schedule, week: Week) -> datetime:
    return occurrence(week, schedule.compose_day, schedule.compose_time, schedule.zone)


def send_at(schedule: Schedule, week: Week, zone: ZoneInfo | str | None = None) -> datetime:
    return occurrence(week, schedule.send_day, schedule.send_time, zone or schedule.zone)


def next_runs(schedule: Schedule, after: datetime, n: int = 5) -> list[Run]:
    """The next ``n`` compose and send times strictly after ``after``, in order."""
    zone = schedule.zone
    week = Week.containing(after, zone)
    runs: list[Run] = []
    while len(runs) < n:
        for kind, moment in (("compose", compose_at(schedule, week)), ("send", send_at(schedule, week))):
            if moment > after:
                runs.append(Run(kind, moment.astimezone(zone), moment))
        week = week.shift(1)
    return sorted(runs, key=lambda r: (r.utc, r.kind != "compose"))[:n]
