"""Worker processes as an operator runs them: side by side, paused, resumed, cancelled, stopped.

Real `newsletter worker` processes send through the real SMTP test server; the operator's
commands run in this process (pause and cancel, whose moment matters) or as processes of their own
(`newsletter issues resume|status`). What is
checked is what a reader or an operator would see: which messages arrived, how often, and what
`issues status` reports.
"""

from __future__ import annotations

import json
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
    copy_issue,
    delivery_states,
    expected_messages,
    issue_status,
    rendered_issue,
    run_cli,
    smtp_settings,
    start_worker,
    stop,
    wait_for,
    wait_until,
    worker_env,
)

POSTGRES_ONLY = [pytest.param("postgres", marks=pytest.mark.postgres)]
# Slow enough to watch from outside: a rate limit (a real setting), not a slowed-down server.
WATCHABLE: dict[str, object] = {"batch_size": 20, "rate_per_second": 250.0}
BATCH = 20


class Bench:
    """Services and `newsletter` processes on the test database, sending through the SMTP test server."""

    def __init__(self, settings: Settings, server: SMTPTestServer, tmp_path: Path, **overrides: object) -> None:
        send_settings = smtp_settings(tmp_path / "var", settings.database, server, **overrides)
        self.services = Services.build(send_settings)
        self.env = worker_env(send_settings)
        self.arrivals = Arrivals(server)
        self.processes: list[subprocess.Popen[bytes]] = []
        self._logs = tmp_path

    @property
    def sessions(self) -> sessionmaker[Session]:
        return self.services.sessions

    def worker(self, *args: str) -> subprocess.Popen[bytes]:
        process = start_worker(self.env, *args, log=self._logs / f"worker-{len(self.processes)}.log")
        self.processes.append(process)
        return process

    def cli(self, *args: str) -> dict[str, object]:
        done = run_cli(self.env, *args, "--json")
        assert done.returncode == 0, done.stderr
        result: dict[str, object] = json.loads(done.stdout)
        return result

    def arrived(self, issue: int) -> int:
        return self.arrivals.count(issue)

    def assert_each_reader_got_it_once(self, issue: int) -> None:
        expected = expected_messages(self.sessions, issue, self.services.settings.mail_domain)
        got = self.arrivals.update().of_issue(issue)
        twice = {mid: n for mid, n in got.items() if n > 1}
        assert not twice, f"{len(twice)} readers got issue {issue} more than once, e.g. {sorted(twice.items())[:3]}"
        assert set(got) == set(expected), f"{len(set(expected) - set(got))} readers never got issue {issue}"
        assert all(self.arrivals.recipients[mid] == {expected[mid]} for mid in got)

    def close(self) -> None:
        stop(self.processes)
        self.services.close()


@pytest.fixture
def bench(settings: Settings, smtp_server: SMTPTestServer, tmp_path: Path) -> Iterator[Bench]:
    bench = Bench(settings, smtp_server, tmp_path, **WATCHABLE)
    yield bench
    bench.close()


@pytest.fixture
def full_speed(settings: Settings, smtp_server: SMTPTestServer, tmp_path: Path) -> Iterator[Bench]:
    """No rate limit, batches of 50."""
    bench = Bench(settings, smtp_server, tmp_path)
    yield bench
    bench.close()


def lease_owners(sessions: sessionmaker[Session]) -> set[str]:
    with sessions() as session:
        owners = session.scalars(
            select(Delivery.lease_owner).where(Delivery.status == DeliveryStatus.SENDING).distinct()
        )
        return {owner for owner in owners if owner}


def settle(bench: Bench, issue: int, seconds: float = 1.0) -> int:
    """Wait long enough for a worker to finish its batch in flight and poll a few times; the count then."""
    time.sleep(seconds)
    return bench.arrived(issue)


@pytest.mark.parametrize("database_url", POSTGRES_ONLY, indirect=True)
def test_two_worker_processes_never_send_the_same_delivery_twice(full_speed: Bench) -> None:
    bench = full_speed
    add_subscribers(bench.sessions, 2_000)
    issue = rendered_issue(bench.services)
    assert bench.services.publisher.queue(issue).queued == 2_000

    pool = subprocess.Popen([NEWSLETTER, "worker", "--processes", "2", "--until-idle", "--json"],
                            env=bench.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    bench.processes.append(pool)
    owners: set[str] = set()
    while pool.poll() is None:  # who holds leases while the send runs
        owners |= lease_owners(bench.sessions)
        time.sleep(0.02)
    out, err = pool.communicate(timeout=60)

    assert pool.returncode == 0, err.decode()
    assert json.loads(out) == {"processes": 2, "exit_code": 0}
    pids = {owner.split(":")[1] for owner in owners}
    assert len(pids) == 2, f"expected two processes sending side by side, saw leases of {sorted(owners)}"
    bench.assert_each_reader_got_it_once(issue)
    assert delivery_states(bench.sessions, issue) == {"sent": 2_000}
    assert issue_status(bench.sessions, issue) is IssueStatus.SENT


def test_pause_stops_a_running_send_within_one_batch_and_resume_finishes_it(bench: Bench) -> None:
    readers = 600
    add_subscribers(bench.sessions, readers)
    issue = rendered_issue(bench.services)
    bench.services.publisher.queue(issue)
    bench.worker()  # a long-running worker, as `newsletter worker` runs in production

    wait_until(lambda: bench.arrived(issue) >= 100, timeout=30, what="the send is under way")
    bench.services.publisher.pause(issue)  # in this process: the moment must not wait for a CLI to start
    at_pause = bench.arrived(issue)
    assert at_pause < readers - BATCH, f"the send ended ({at_pause}) before the pause: nothing was tested"

    stopped_at = settle(bench, issue, 0.8)
    assert stopped_at - at_pause <= BATCH, f"{stopped_at - at_pause} messages arrived after the pause"
    assert settle(bench, issue, 0.5) == stopped_at, "messages still arrive while the issue is paused"
    status = bench.cli("issues", "status", str(issue))
    assert (status["status"], status["sent"], status["queued"], status["sending"]) == (
        "paused", stopped_at, readers - stopped_at, 0)

    assert bench.cli("issues", "resume", str(issue)) == {"id": issue, "status": "sending"}
    wait_until(lambda: issue_status(bench.sessions, issue) is IssueStatus.SENT, timeout=30, what="the issue is sent")
    bench.assert_each_reader_got_it_once(issue)
    assert delivery_states(bench.sessions, issue) == {"sent": readers}


def test_cancel_stops_a_running_send_and_skips_everyone_not_yet_sent(bench: Bench) -> None:
    readers = 600
    add_subscribers(bench.sessions, readers)
    issue = rendered_issue(bench.services)
    bench.services.publisher.queue(issue)
    bench.worker()

    wait_until(lambda: bench.arrived(issue) >= 100, timeout=30, what="the send is under way")
    skipped = bench.services.publisher.cancel(issue)
    at_cancel = bench.arrived(issue)
    assert at_cancel < readers - BATCH, f"the send ended ({at_cancel}) before the cancel: nothing was tested"

    stopped_at = settle(bench, issue, 0.8)
    assert stopped_at - at_cancel <= BATCH, f"{stopped_at - at_cancel} messages arrived after the cancel"
    assert settle(bench, issue, 0.5) == stopped_at, "messages still arrive after the issue was cancelled"
    states = delivery_states(bench.sessions, issue)
    assert states == {"sent": stopped_at, "skipped": readers - stopped_at}
    assert skipped == readers - stopped_at  # what the editor was told: the rows in flight still went out
    assert issue_status(bench.sessions, issue) is IssueStatus.CANCELLED
    status = bench.cli("issues", "status", str(issue))
    assert (status["status"], status["sent"], status["skipped"]) == ("cancelled", stopped_at, readers - stopped_at)
    got = bench.arrivals.update().of_issue(issue)
    assert sum(got.values()) == len(got) == stopped_at  # nobody twice

    # The worker goes on with the next issue as if nothing happened.
    following = copy_issue(bench.sessions, issue)
    bench.services.publisher.queue(following)
    wait_until(lambda: issue_status(bench.sessions, following) is IssueStatus.SENT, timeout=30,
               what="the next issue is sent")
    bench.assert_each_reader_got_it_once(following)
    assert bench.arrived(issue) == stopped_at


def stop_mid_send(bench: Bench, how: signal.Signals, *args: str) -> None:
    readers = 600
    add_subscribers(bench.sessions, readers)
    issue = rendered_issue(bench.services)
    bench.services.publisher.queue(issue)
    worker = bench.worker(*args)

    wait_until(lambda: bench.arrived(issue) >= 100, timeout=30, what="the send is under way")
    wait_for(lambda: lease_owners(bench.sessions), timeout=2, interval=0.005)  # a batch in flight
    worker.send_signal(how)
    assert worker.wait(15) == 0, f"the worker exited with {worker.returncode} on {how.name}"
    stopped_at = bench.arrived(issue)
    assert stopped_at < readers, "the send ended before the worker was stopped: nothing was tested"
    assert delivery_states(bench.sessions, issue) == {"sent": stopped_at, "queued": readers - stopped_at}, (
        f"the worker stopped by {how.name} left deliveries leased (they wait for the lease to expire, then go "
        f"out again: duplicates for whoever the batch had reached)"
    )

    restarted = start_worker({k: v for k, v in bench.env.items() if k != "NEWSLETTER_RATE_PER_SECOND"}, "--until-idle")
    bench.processes.append(restarted)
    assert restarted.wait(60) == 0
    bench.assert_each_reader_got_it_once(issue)
    assert delivery_states(bench.sessions, issue) == {"sent": readers}


@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_stopped_worker_finishes_its_batch_in_flight_and_leaves_no_lease(bench: Bench, how: signal.Signals) -> None:
    """`systemctl stop` (SIGTERM) or Ctrl-C (SIGINT) mid-send: the batch in flight is sent and
    recorded before the worker exits, so a restarted worker sends nobody twice at once."""
    stop_mid_send(bench, how)


@pytest.mark.parametrize("database_url", POSTGRES_ONLY, indirect=True)
def test_stopped_worker_processes_finish_their_batches_in_flight(bench: Bench) -> None:
    stop_mid_send(bench, signal.SIGTERM, "--processes", "2")
