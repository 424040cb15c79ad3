"""The scheduler process's parts: one active scheduler, fixed jobs in the database job store."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import text

from newsletter.db.engine import make_engine
from newsletter.schedule.leader import AdvisoryLock, FileLock, wait_for_leadership
from newsletter.schedule.process import POLL_JOB_ID, TICK_JOB_ID, build_scheduler


def test_a_second_scheduler_waits_until_the_first_lets_go_sqlite(tmp_path):
    first, second = FileLock(tmp_path / "scheduler.lock"), FileLock(tmp_path / "scheduler.lock")
    assert first.try_acquire()
    assert not second.try_acquire()
    first.release()
    assert second.try_acquire()
    second.release()


@pytest.mark.postgres
def test_a_second_scheduler_waits_until_the_first_dies_postgres(postgres_url):
    engine_a, engine_b = make_engine(postgres_url), make_engine(postgres_url)
    first, second = AdvisoryLock(engine_a), AdvisoryLock(engine_b)
    try:
        assert first.try_acquire() and first.held()
        assert not second.try_acquire()
        # The active scheduler's session dies (as with a crash): the server frees the lock.
        with engine_b.begin() as conn:
            killed = conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": first.session_pid}).scalar()
        assert killed
        assert not first.held()
        stop = threading.Event()
        assert wait_for_leadership(second, stop, retry_seconds=0.1)
        assert second.held()
    finally:
        second.release()
        engine_a.dispose()
        engine_b.dispose()


def test_jobs_have_fixed_ids_in_the_database_job_store(settings):
    engine = make_engine(settings.database)
    try:
        for _ in range(2):  # a restart replaces the jobs instead of adding more
            scheduler = build_scheduler(settings, engine)
            scheduler.start(paused=True)
            scheduler.shutdown(wait=False)
        with engine.connect() as conn:
            ids = sorted(conn.execute(text("SELECT id FROM apscheduler_jobs")).scalars())
        assert ids == sorted([TICK_JOB_ID, POLL_JOB_ID])
        job = build_scheduler(settings, engine)
        job.start(paused=True)
        assert job.get_job(TICK_JOB_ID).func_ref == "newsletter.schedule.process:cycle_tick"
        job.shutdown(wait=False)
    finally:
        engine.dispose()
