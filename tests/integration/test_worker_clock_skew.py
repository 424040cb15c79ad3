"""Workers whose clocks disagree never mail a reader twice: the database is the one clock.

Two `newsletter worker --until-idle` processes on one PostgreSQL, started under libfaketime
(`faketime -f +10m` and `faketime -f -10m`: clocks 20 minutes apart), send one issue to 1,500
readers through the real SMTP test server, with 5 s leases. A worker that trusted its own clock
would find every lease of the slow one expired (and steal rows in flight), and the slow one would
wait ten minutes for leases the fast one left. Checked as a reader would: each got the issue
exactly once, and both workers ended.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from newsletter.config import Settings
from newsletter.delivery.models import Delivery, DeliveryStatus
from newsletter.issues.models import IssueStatus
from newsletter.services import Services
from tests.factories import add_subscribers
from tests.smtp_server import SMTPTestServer
from tests.workers import (
    NEWSLETTER,
    Arrivals,
    delivery_states,
    expected_messages,
    issue_status,
    rendered_issue,
    smtp_settings,
    worker_env,
)

READERS = 1_500  # 30 batches of 50: enough for both workers to hold leases side by side (checked below)
SKEWS = ("+10m", "-10m")
FAKETIME = shutil.which("faketime")
POSTGRES_ONLY = [pytest.param("postgres", marks=pytest.mark.postgres)]
pytestmark = pytest.mark.skipif(FAKETIME is None, reason="faketime (libfaketime) is not installed: make system-deps")


def skewed(env: dict[str, str], skew: str, *command: str, log: Path | None = None) -> subprocess.Popen[bytes]:
    """``command`` on a clock moved by ``skew`` (libfaketime: the C library's clock, so Python's
    too). faketime forks the command: both go in a process group of their own, to be killed as one."""
    assert FAKETIME is not None
    argv = [FAKETIME, "-f", skew, *command]
    # Only the wall clock moves, as on a machine whose clock is off. (With libfaketime's faked
    # monotonic clock too, Python's timed waits such as Event.wait never return.)
    env = {**env, "FAKETIME_DONT_FAKE_MONOTONIC": "1"}
    if log is None:
        return subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                start_new_session=True)
    with open(log, "ab") as out:
        return subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


def stop(processes: list[subprocess.Popen[bytes]]) -> None:
    """Kill the process groups still running (a failed test leaves no worker behind)."""
    for process in processes:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)


def clock_of(env: dict[str, str], skew: str) -> float:
    probe = skewed(env, skew, str(Path(NEWSLETTER).parent / "python"), "-c", "import time; print(time.time())")
    out, _ = probe.communicate(timeout=30)
    return float(out)


def lease_owners(sessions: sessionmaker[Session]) -> set[str]:
    with sessions() as session:
        owners = session.scalars(
            select(Delivery.lease_owner).where(Delivery.status == DeliveryStatus.SENDING).distinct()
        )
        return {owner for owner in owners if owner}


@pytest.fixture
def services(settings: Settings, smtp_server: SMTPTestServer, tmp_path: Path) -> Iterator[Services]:
    """Wired as the workers are: the test database, the SMTP test server, 5 s leases, batches of 50."""
    services = Services.build(smtp_settings(tmp_path / "var", settings.database, smtp_server))
    yield services
    services.close()


@pytest.mark.parametrize("database_url", POSTGRES_ONLY, indirect=True)
@pytest.mark.timeout(240)
def test_workers_whose_clocks_are_20_minutes_apart_mail_each_reader_once(
    services: Services, smtp_server: SMTPTestServer, tmp_path: Path
) -> None:
    env = worker_env(services.settings)
    # The premise: faketime really moves the clock Python reads in the child, 20 minutes apart.
    ahead, behind = clock_of(env, SKEWS[0]), clock_of(env, SKEWS[1])
    assert 19 * 60 < ahead - behind < 21 * 60, (ahead, behind)

    add_subscribers(services.sessions, READERS)
    issue = rendered_issue(services)
    assert services.publisher.queue(issue).queued == READERS
    assert services.settings.lease_seconds == 5  # far shorter than the skew

    logs = [tmp_path / f"worker{skew}.log" for skew in SKEWS]
    workers = [skewed(env, skew, NEWSLETTER, "worker", "--until-idle", log=log) for skew, log in zip(SKEWS, logs, strict=True)]
    owners: set[str] = set()
    try:
        # The send takes seconds; the old code's slow worker waited ten minutes for stolen leases.
        deadline = time.monotonic() + 60
        while any(w.poll() is None for w in workers) and time.monotonic() < deadline:
            owners |= lease_owners(services.sessions)  # who holds leases while the send runs
            time.sleep(0.02)
        running = [log.name for w, log in zip(workers, logs, strict=True) if w.poll() is None]
    finally:
        stop(workers)

    expected = expected_messages(services.sessions, issue, services.settings.mail_domain)
    arrivals = Arrivals(smtp_server).update()
    got = arrivals.of_issue(issue)
    twice = {mid: n for mid, n in got.items() if n > 1}
    assert not twice, f"{len(twice)} readers got the issue more than once, e.g. {sorted(twice.items())[:3]}"
    assert not running, f"still running after 60 s: {running}; deliveries: {delivery_states(services.sessions, issue)}"
    failed = {log.name: log.read_text()[-3000:] for w, log in zip(workers, logs, strict=True) if w.returncode != 0}
    assert not failed, failed
    pids = {owner.split(":")[1] for owner in owners}
    assert len(pids) == 2, f"both workers should have sent side by side, saw leases of {sorted(owners)}"
    assert set(got) == set(expected), f"{len(set(expected) - set(got))} readers never got the issue"
    assert all(arrivals.recipients[mid] == {expected[mid]} for mid in got)
    assert delivery_states(services.sessions, issue) == {"sent": READERS}
    assert issue_status(services.sessions, issue) is IssueStatus.SENT
