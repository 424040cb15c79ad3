"""The scheduler process: one APScheduler 3.x BlockingScheduler running the weekly cycle.

Run it as its own process (`python scheduler.py` or `newsletter scheduler`), never inside web
workers, so a job fires once and not once per web process.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timezone

from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.cron import CronTrigger

from newsletter.compose import ComposeError, compose
from newsletter.config import Settings
from newsletter.services import Services

log = logging.getLogger(__name__)
WEEKLY_JOB_ID = "weekly-cycle"


@dataclass(frozen=True)
class CycleResult:
    issue_id: int | None
    queued: int
    reason: str


def weekly_cycle(services: Services, now: datetime | None = None) -> CycleResult:
    """Compose this week's issue (or take the one already composed) and queue it for sending.

    Safe to run twice: compose returns the week's existing issue and queueing adds nobody twice.
    """
    try:
        composed = compose(services.sessions, services.settings, now=now or datetime.now(timezone.utc))
    except ComposeError as exc:
        log.warning("weekly cycle: nothing sent: %s", exc)
        return CycleResult(None, 0, str(exc))
    queued = services.publisher.queue(composed.issue_id)
    log.info("weekly cycle: issue %s queued for %s readers", composed.issue_id, queued.queued)
    return CycleResult(composed.issue_id, queued.queued, "queued")


def weekly_trigger(settings: Settings) -> CronTrigger:
    hour, minute = (int(part) for part in settings.send_time.split(":"))
    return CronTrigger(day_of_week=settings.send_day, hour=hour, minute=minute, timezone=settings.time_zone)


def build_scheduler(services: Services) -> BlockingScheduler:
    scheduler = BlockingScheduler(timezone=services.settings.time_zone)
    scheduler.add_job(
        weekly_cycle,
        weekly_trigger(services.settings),
        args=[services],
        id=WEEKLY_JOB_ID,
        name="compose and send the weekly issue",
        replace_existing=True,
        coalesce=True,  # a backlog of missed runs becomes one run, never a burst of sends
        misfire_grace_time=6 * 3600,
        max_instances=1,
    )
    return scheduler


def run_scheduler(settings: Settings) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    services = Services.build(settings)
    scheduler = build_scheduler(services)
    job = scheduler.get_job(WEEKLY_JOB_ID)
    log.info("scheduler started; next weekly cycle at %s", job.trigger.get_next_fire_time(None, datetime.now(timezone.utc)) if job else None)
    try:
        scheduler.start()
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        services.close()
