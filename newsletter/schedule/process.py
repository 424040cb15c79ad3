"""The scheduler process: APScheduler 3.x as a clock, the weekly cycle's state in the database.

Run it as its own process (`python scheduler.py` or `newsletter scheduler`), never inside web
workers. Only one scheduler is active (newsletter.schedule.leader); the others wait as standbys.

Two jobs with fixed ids, stored in APScheduler's SQLAlchemy job store on the application's
database: ``cycle-tick`` asks the weekly cycle what is due (compose, send, local-time waves,
one-off sends, catch-up after downtime) and ``sources-poll`` polls the sources that are due.
They are module-level functions without arguments: nothing is pickled but their names. What
happens exactly once is decided by the cycle's per-week key in the database, not by the
clock, so a job that fires twice, a restart or a DST change cannot send a week twice.
"""

from __future__ import annotations

import logging
import signal
import threading
from datetime import datetime, timezone
from types import FrameType

from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import Engine

from newsletter.config import Settings, load_settings
from newsletter.db.engine import make_engine, migrate
from newsletter.schedule.leader import leadership_for, wait_for_leadership
from newsletter.services import Services

log = logging.getLogger(__name__)
TICK_JOB_ID = "cycle-tick"
POLL_JOB_ID = "sources-poll"
LEADERSHIP_CHECK_SECONDS = 5.0


def cycle_tick() -> None:
    """Job: run whatever the weekly cycle has due now."""
    from newsletter.schedule.cycle import CycleRunner

    services = Services.build(load_settings(), run_migrations=False)
    try:
        for event in CycleRunner(services).tick(datetime.now(timezone.utc)):
            log.info("cycle %s: %s %s", event.week, event.kind, event.detail)
    finally:
        services.close()


def sources_poll() -> None:
    """Job: poll every source whose interval has passed."""
    from newsletter.content.sources import poll_due

    services = Services.build(load_settings(), run_migrations=False)
    try:
        for result in poll_due(services, datetime.now(timezone.utc)):
            log.info("source %s polled: %s", result.source_id, result)
    finally:
        services.close()


def build_scheduler(settings: Settings, engine: Engine) -> BackgroundScheduler:
    scheduler = BackgroundScheduler(
        jobstores={"default": SQLAlchemyJobStore(engine=engine)},
        timezone=settings.time_zone,
        job_defaults={"coalesce": True, "max_instances": 1},
    )
    # Coalesced, with a grace time: after downtime each job runs once, never a burst; the
    # cycle itself decides whether a missed send is still within its grace period.
    scheduler.add_job(cycle_tick, IntervalTrigger(seconds=settings.scheduler_tick_seconds), id=TICK_JOB_ID,
                      name="weekly cycle", replace_existing=True, misfire_grace_time=3600,
                      next_run_time=datetime.now(timezone.utc))
    scheduler.add_job(sources_poll, IntervalTrigger(minutes=1), id=POLL_JOB_ID, name="poll sources",
                      replace_existing=True, misfire_grace_time=3600, next_run_time=datetime.now(timezone.utc))
    return scheduler


def run_scheduler(settings: Settings) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    stop = threading.Event()

    def _stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    engine = make_engine(settings.database)
    migrate(engine)
    lock = leadership_for(engine, settings.data_dir)
    try:
        if not wait_for_leadership(lock, stop):
            return
        scheduler = build_scheduler(settings, engine)
        scheduler.start()
        log.info("scheduler running: %s every %.0f s, %s every minute", TICK_JOB_ID,
                 settings.scheduler_tick_seconds, POLL_JOB_ID)
        while not stop.wait(LEADERSHIP_CHECK_SECONDS):
            if not lock.held():
                # Lost the database session that held the lock: a standby may lead now.
                log.error("lost the scheduler lock; stopping so that only one scheduler runs")
                break
        scheduler.shutdown(wait=True)
    finally:
        lock.release()
        engine.dispose()
