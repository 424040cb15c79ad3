"""The tests' clock: no test may depend on the day, the weekday or the hour it runs at.

- ``mid_week(moment)``: Wednesday 12:00 (the list's zone) of the week ``moment`` falls in; minutes
  or days either side of it stay in that week, which "compose this week" then finds.
- ``travel_to(moment)``: a fixture body moving this process's clock there (ticking) for one test,
  so the code's own ``utcnow()`` agrees with the dates the test computed.
- ``NEWSLETTER_TEST_CLOCK=2026-12-05T23:05:00Z pytest ...`` runs the whole session with the clock
  moved to that moment (ticking from it): this process, the xdist workers, the forked CLI
  commands and every Python subprocess the tests start (``tests/clock_site/sitecustomize.py``,
  put on PYTHONPATH with the shift in ``NL_TEST_CLOCK_SHIFT``). Only Python's clock moves:
  PostgreSQL's ``now()``, SQLite's ``'now'``, chromium and Postfix keep the real time, so no
  test compares a time the database or the browser made with one Python made.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import time_machine

CLOCK_ENV = "NEWSLETTER_TEST_CLOCK"
# Not NEWSLETTER_*: the helpers that build a subprocess's environment drop those.
SHIFT_ENV = "NL_TEST_CLOCK_SHIFT"
ACTIVE_ENV = "NL_TEST_CLOCK_PID"
SITE_DIR = Path(__file__).resolve().parent / "clock_site"
LIST_ZONE = ZoneInfo("Europe/London")  # the settings' default time zone (NEWSLETTER_TIME_ZONE)


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def real_time() -> float:
    """The host's clock (time.time()), wherever time-machine has moved this process's."""
    hatch = time_machine.escape_hatch
    return hatch.time.time() if hatch.is_travelling() else time.time()


def mid_week(moment: datetime | None = None, zone: ZoneInfo = LIST_ZONE) -> datetime:
    """Wednesday 12:00 in ``zone`` of the ISO week (in ``zone``) that ``moment`` (default: now)
    falls in, as aware UTC: at least two days from either end of the week."""
    local = (moment or utcnow()).astimezone(zone)
    year, week, _ = local.isocalendar()
    wednesday = date.fromisocalendar(year, week, 3)
    return datetime(wednesday.year, wednesday.month, wednesday.day, 12, tzinfo=zone).astimezone(timezone.utc)


def travel_to(moment: datetime) -> Iterator[datetime]:
    """For a fixture: this process's clock at ``moment`` (ticking) until the test ends."""
    with time_machine.travel(moment, tick=True):
        yield moment


def subprocess_clock(moment: datetime) -> dict[str, str]:
    """Environment entries that start a Python subprocess's clock at ``moment`` now (ticking
    from there), as ``travel_to(moment)`` started at the same instant does in this process."""
    path = os.environ.get("PYTHONPATH", "")
    if str(SITE_DIR) not in path.split(os.pathsep):
        path = os.pathsep.join(p for p in (str(SITE_DIR), path) if p)
    return {SHIFT_ENV: repr(moment.timestamp() - real_time()), "PYTHONPATH": path}


@contextmanager
def moved_clock(moment: datetime) -> Iterator[dict[str, str]]:
    """This process's clock at ``moment`` (ticking) until the block ends; gives the environment
    entries that put a subprocess started meanwhile at the same time (see subprocess_clock)."""
    with time_machine.travel(moment, tick=True):
        yield subprocess_clock(moment)


def parse_clock(text: str) -> datetime:
    moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError(f"{CLOCK_ENV} needs a zone, e.g. 2026-12-05T23:05:00Z, not {text!r}")
    return moment


def start_session_clock() -> datetime | None:
    """Move this process's clock as NEWSLETTER_TEST_CLOCK says, once per process, and pass the
    shift on to the processes it starts. Returns the moment the session starts at, or None."""
    text = os.environ.get(CLOCK_ENV, "").strip()
    if not text:
        return None
    if os.environ.get(ACTIVE_ENV) == str(os.getpid()):  # sitecustomize moved this process already
        return datetime.fromtimestamp(time.time(), timezone.utc)
    if SHIFT_ENV not in os.environ:  # the first process of the session (the xdist controller)
        os.environ[SHIFT_ENV] = repr(parse_clock(text).timestamp() - time.time())
        path = os.environ.get("PYTHONPATH", "")
        os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(SITE_DIR), path) if p)
    start = datetime.fromtimestamp(time.time() + float(os.environ[SHIFT_ENV]), timezone.utc)
    time_machine.travel(start, tick=True).start()
    os.environ[ACTIVE_ENV] = str(os.getpid())
    return start
