"""The weekly schedule: validation, wall times across DST changes, the next run times."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from newsletter.issues.compose import Week
from newsletter.schedule.weekly import (
    Schedule,
    ScheduleError,
    load_schedule,
    next_runs,
    occurrence,
    save_schedule,
    update_schedule,
)
from newsletter.schedule.models import ScheduleMode


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=timezone.utc)


def test_without_a_stored_schedule_the_settings_give_it(sessions, settings):
    schedule = load_schedule(sessions, settings)
    assert schedule == Schedule("fri", "16:00", "sat", "07:00", "Europe/London", ScheduleMode.AUTO)


def test_a_stored_schedule_wins_and_partial_updates_keep_the_rest(sessions, settings):
    update_schedule(sessions, settings, send="Sunday 9:05", mode="approve")
    schedule = load_schedule(sessions, settings)
    assert schedule == Schedule("fri", "16:00", "sun", "09:05", "Europe/London", ScheduleMode.APPROVE)
    update_schedule(sessions, settings, time_zone="Asia/Tokyo")
    assert load_schedule(sessions, settings).time_zone == "Asia/Tokyo"
    assert load_schedule(sessions, settings).send_time == "09:05"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"time_zone": "Mars/Olympus"}, "unknown time zone 'Mars/Olympus': expected an IANA name"),
        ({"send": "sat 25:00"}, "unknown time '25:00'"),
        ({"send": "sat 7"}, "expected HH:MM"),
        ({"compose": "someday 10:00"}, "unknown day 'someday': expected one of mon"),
        ({"compose": "fri"}, "expected a day and a time"),
        ({"mode": "yolo"}, "expected one of auto, approve, local-time"),
        ({"compose": "sat 08:00"}, "the send time (sat 07:00) comes before the compose time (sat 08:00)"),
        ({"send": "mon 09:00"}, "comes before the compose time (fri 16:00)"),
    ],
)
def test_invalid_schedules_are_refused_and_nothing_changes(sessions, settings, change, message):
    before = update_schedule(sessions, settings, send="sat 07:00")
    with pytest.raises(ScheduleError) as caught:
        update_schedule(sessions, settings, **change)
    assert message in str(caught.value)
    assert load_schedule(sessions, settings) == before


def test_save_schedule_validates_before_storing(sessions, settings):
    with pytest.raises(ScheduleError):
        save_schedule(sessions, Schedule("fri", "16:00", "sat", "07:00", "Nowhere/Land", ScheduleMode.AUTO))
    assert load_schedule(sessions, settings).time_zone == "Europe/London"


def week_of(day: datetime) -> Week:
    year, number, _ = day.isocalendar()
    return Week(year, number)


@pytest.mark.parametrize(
    ("zone", "day", "clock", "expected"),
    [
        # London springs forward on Sun 29 Mar 2026 at 01:00 GMT: 01:30 never happens -> 02:30 BST.
        ("Europe/London", utc(2026, 3, 29), "01:30", utc(2026, 3, 29, 1, 30)),
        # London falls back on Sun 25 Oct 2026: 01:30 happens twice -> the first (BST).
        ("Europe/London", utc(2026, 10, 25), "01:30", utc(2026, 10, 25, 0, 30)),
        # New York springs forward on Sun 8 Mar 2026 at 02:00: 02:30 -> 03:30 EDT.
        ("America/New_York", utc(2026, 3, 8), "02:30", utc(2026, 3, 8, 7, 30)),
        # New York falls back on Sun 1 Nov 2026: 01:30 happens twice -> the first (EDT).
        ("America/New_York", utc(2026, 11, 1), "01:30", utc(2026, 11, 1, 5, 30)),
        ("Europe/London", utc(2026, 7, 4), "07:00", utc(2026, 7, 4, 6, 0)),
    ],
)
def test_occurrence_resolves_gaps_forward_and_repeats_to_the_first(zone, day, clock, expected):
    weekday = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")[day.weekday()]
    assert occurrence(week_of(day), weekday, clock, zone) == expected


def test_next_runs_across_the_spring_change_in_london():
    schedule = Schedule("sat", "16:00", "sun", "07:00", "Europe/London", ScheduleMode.AUTO)
    runs = next_runs(schedule, utc(2026, 3, 27, 12, 0))
    assert [(r.kind, r.utc) for r in runs] == [
        ("compose", utc(2026, 3, 28, 16, 0)),  # GMT
        ("send", utc(2026, 3, 29, 6, 0)),  # 07:00 BST, the morning of the change
        ("compose", utc(2026, 4, 4, 15, 0)),
        ("send", utc(2026, 4, 5, 6, 0)),
        ("compose", utc(2026, 4, 11, 15, 0)),
    ]
    assert [r.local.strftime("%H:%M %Z") for r in runs[:2]] == ["16:00 GMT", "07:00 BST"]


def test_next_runs_across_the_autumn_change_in_new_york():
    schedule = Schedule("sat", "23:00", "sun", "01:30", "America/New_York", ScheduleMode.AUTO)
    runs = next_runs(schedule, utc(2026, 10, 30, 0, 0), n=4)
    assert [r.utc for r in runs] == [
        utc(2026, 11, 1, 3, 0),  # Sat 23:00 EDT
        utc(2026, 11, 1, 5, 30),  # Sun 01:30 EDT, the first of the two
        utc(2026, 11, 8, 4, 0),  # Sat 23:00 EST
        utc(2026, 11, 8, 6, 30),
    ]
