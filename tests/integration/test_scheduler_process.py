"""`scheduler.py` as operators run it: a real process, a real SMTP server, a second standby."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from newsletter.issues.compose import compose
from newsletter.schedule.sends import schedule_issue
from newsletter.db.base import utcnow
from newsletter.issues.models import Issue, IssueStatus
from tests.clock import mid_week, moved_clock
from tests.factories import add_article, add_subscribers

ROOT = Path(__file__).resolve().parents[2]
NEWSLETTER = str(Path(sys.executable).parent / "newsletter")


def environment(settings, smtp_server) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSLETTER_")}
    env.update(
        NEWSLETTER_DATA_DIR=str(settings.data_dir),
        NEWSLETTER_DATABASE_URL=settings.database,
        NEWSLETTER_BACKEND="smtp",
        NEWSLETTER_SMTP_HOST=smtp_server.host,
        NEWSLETTER_SMTP_PORT=str(smtp_server.port),
        NEWSLETTER_SMTP_TLS="none",
        NEWSLETTER_SECRET_KEY=settings.secret_key,
        NEWSLETTER_ADMIN_PASSWORD=settings.admin_password,
        NEWSLETTER_FROM_ADDRESS=settings.from_address,
        NEWSLETTER_BASE_URL=settings.base_url,
        NEWSLETTER_SCHEDULER_TICK_SECONDS="1",
        NEWSLETTER_WORKER_POLL_SECONDS="0.2",
    )
    return env


def start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(args, cwd=ROOT, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT)


def wait_for(condition, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False


def stop(process: subprocess.Popen[bytes]) -> int:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    return process.wait(timeout=20)


@pytest.fixture
def wednesday_noon() -> Iterator[dict[str, str]]:
    """The clock of this test and of the processes it starts at Wednesday noon of this week
    (ticking): the weekly cycle (compose Friday, send Saturday) has nothing to do, so what the
    SMTP server receives is the scheduled issue alone, whatever the day the test runs on. (On a
    Saturday evening the week's send, missed by more than the grace, would mail the editor.)"""
    with moved_clock(mid_week()) as env:
        yield env


def test_the_scheduler_sends_a_scheduled_issue_once_and_a_standby_takes_over(
    services, settings, smtp_server, tmp_path, wednesday_noon
):
    now = utcnow()
    add_article(services.sessions, "This week's piece", now)
    readers = add_subscribers(services.sessions, 5)
    issue_id = compose(services.sessions, settings, now=now).issue_id
    services.publisher.rendered(issue_id)
    send_at = now + timedelta(seconds=4)
    schedule_issue(services, issue_id, send_at, now)
    env = {**environment(settings, smtp_server), **wednesday_noon}

    active = start([sys.executable, "scheduler.py"], env, tmp_path / "active.log")
    standby = worker = None
    try:
        assert wait_for(lambda: "now the active one" in (tmp_path / "active.log").read_text(), 20)
        standby = start([sys.executable, "scheduler.py"], env, tmp_path / "standby.log")
        worker = start([NEWSLETTER, "worker"], env, tmp_path / "worker.log")
        assert wait_for(lambda: "waiting as a standby" in (tmp_path / "standby.log").read_text(), 20)

        # Nothing goes out before the scheduled time.
        while utcnow() < send_at - timedelta(seconds=1):
            assert smtp_server.messages == []
            time.sleep(0.2)
        assert wait_for(lambda: len(smtp_server.messages) >= len(readers), 30), (tmp_path / "active.log").read_text()
        time.sleep(3)  # ticks keep firing: still once each
        received = Counter(r for m in smtp_server.messages for r in m.rcpt_tos)
        assert received == Counter({f"reader{i}@example.net": 1 for i in range(5)})
        with services.sessions() as session:
            assert session.get(Issue, issue_id).status is IssueStatus.SENT

        # The active scheduler dies; the standby takes over.
        active.kill()
        active.wait(timeout=10)
        assert wait_for(lambda: "now the active one" in (tmp_path / "standby.log").read_text(), 20)
    finally:
        for process in (standby, worker):
            if process is not None:
                assert stop(process) in (0, -signal.SIGTERM)
        if active.poll() is None:
            stop(active)
