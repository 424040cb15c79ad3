"""The scheduler process's weekly job: composes the week's issue and queues it, once."""

from __future__ import annotations

from datetime import datetime, timezone


from newsletter.backends.memory import MemoryBackend
from newsletter.scheduling import WEEKLY_JOB_ID, build_scheduler, weekly_cycle
from newsletter.services import Services
from tests.factories import add_article, add_subscribers

NOW = datetime(2026, 11, 28, 7, 0, tzinfo=timezone.utc)  # Saturday 07:00 in London


def test_the_weekly_cycle_queues_the_weeks_issue_once(services):
    add_article(services.sessions, "This week's piece", datetime(2026, 11, 26, tzinfo=timezone.utc))
    add_subscribers(services.sessions, 3)

    first = weekly_cycle(services, now=NOW)
    again = weekly_cycle(services, now=NOW)  # a job that fires twice sends nothing twice

    assert first.issue_id is not None and first.queued == 3
    assert again.issue_id == first.issue_id and again.queued == 0
    assert services.store.counts(first.issue_id)["queued"] == 3


def test_an_empty_week_sends_nothing(services):
    add_subscribers(services.sessions, 3)
    result = weekly_cycle(services, now=NOW)
    assert result.issue_id is None and result.queued == 0
    assert "no articles" in result.reason


def test_the_job_runs_at_the_send_time_in_the_lists_zone(settings):
    services = Services.build(settings.model_copy(update={"send_day": "sat", "send_time": "07:00",
                                                          "time_zone": "America/New_York"}),
                              backend=MemoryBackend(settings))
    try:
        scheduler = build_scheduler(services)
        job = scheduler.get_job(WEEKLY_JOB_ID)
        fire = job.trigger.get_next_fire_time(None, datetime(2026, 11, 25, tzinfo=timezone.utc))
        assert fire.isoformat() == "2026-11-28T07:00:00-05:00"
        assert job.coalesce and job.max_instances == 1
    finally:
        services.close()
