"""A worker killed with SIGKILL in the middle of a send loses nobody, and repeats only what was on
the wire: at most the window of sends since its last write (``record_every``, 50), not its claim.

Real parts only: `newsletter worker --until-idle` processes on PostgreSQL with the default claim
of 1,000, sending through the real SMTP test server, which records every message. Each round
queues an issue for 2,000 readers, starts two workers and kills one of them at a random moment
while it holds a batch; right after the kill the test reads the rows the dead process still
leased (its claim in flight). The survivors (and later rounds' workers) take those rows over once
the lease expires.

Rounds overlap: round k+1 starts right after round k's kill instead of waiting out the lease, so
ten rounds (ten random kills) fit in the time budget. A row can then be in the claim of more than
one killed worker, so the rule is checked per delivery: it arrived at least once, and at most
once more than the number of killed workers that held it; and per kill: at most ``record_every``
of the rows it held arrived twice.
"""

from __future__ import annotations

import random
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from newsletter.config import Settings
from newsletter.mail.message import make_message_id
from newsletter.issues.models import IssueStatus
from newsletter.services import Services
from tests.factories import add_subscribers
from tests.smtp_server import SMTPTestServer
from tests.workers import (
    Arrivals,
    copy_issue,
    delivery_states,
    expected_messages,
    issue_status,
    leased_by,
    rendered_issue,
    smtp_settings,
    start_worker,
    stop,
    wait_for,
    wait_until,
    worker_env,
)

READERS = 2_000
ROUNDS = 10
LEASE_SECONDS = 8
POSTGRES_ONLY = [pytest.param("postgres", marks=pytest.mark.postgres)]


@dataclass(frozen=True)
class Kill:
    round: int
    pid: int
    delay: float  # seconds between the worker's first batch and the kill
    in_flight: frozenset[tuple[int, int]]  # (issue id, subscriber id) it held in `sending`
    arrived: int  # how many of those the server had received right after the kill


def holds_batch(sessions: sessionmaker[Session], process: subprocess.Popen[bytes]) -> bool:
    return bool(leased_by(sessions, process.pid)) or process.poll() is not None


def sending_now(sessions: sessionmaker[Session], processes: list[subprocess.Popen[bytes]]) -> list[subprocess.Popen[bytes]]:
    return [p for p in processes if p.poll() is None and leased_by(sessions, p.pid)]


def pick_holders(sessions: sessionmaker[Session], first: list[subprocess.Popen[bytes]],
                 rest: list[subprocess.Popen[bytes]], out: list[subprocess.Popen[bytes]]) -> bool:
    """Put in ``out`` the workers of ``first``, else of ``rest``, holding a claim; True if any."""
    out[:] = sending_now(sessions, first) or sending_now(sessions, rest)
    return bool(out)


@pytest.fixture
def services(settings: Settings, smtp_server: SMTPTestServer, tmp_path: Path) -> Iterator[Services]:
    """Wired as the workers are: the test database, the SMTP test server, the default claim of
    1,000, outcomes written every 50 sends, and 8 s leases: a claim sent slower than that (the test
    server on a busy machine) is renewed every 4 s, so the lease does not run out mid-claim; the
    dead workers' rows come back 8 s after their last claim or renewal."""
    services = Services.build(smtp_settings(tmp_path / "var", settings.database, smtp_server,
                                            batch_size=1000, record_every=50, lease_seconds=LEASE_SECONDS))
    yield services
    services.close()


@pytest.mark.parametrize("database_url", POSTGRES_ONLY, indirect=True)
@pytest.mark.timeout(600)  # rounds of real processes; a shared CI machine can be slow
def test_a_killed_worker_loses_no_reader_and_repeats_only_what_was_on_the_wire(
    services: Services, smtp_server: SMTPTestServer, tmp_path: Path
) -> None:
    send_settings = services.settings
    domain = send_settings.mail_domain
    env = worker_env(send_settings)
    seed = random.randrange(2**32)
    rng = random.Random(seed)
    processes: list[subprocess.Popen[bytes]] = []
    kills: list[Kill] = []
    logs: dict[int, Path] = {}
    arrivals = Arrivals(smtp_server)
    started = time.monotonic()
    try:
        add_subscribers(services.sessions, READERS)
        first = rendered_issue(services)
        issues = [first] + [copy_issue(services.sessions, first) for _ in range(ROUNDS - 1)]

        for round_, issue in enumerate(issues):
            assert services.publisher.queue(issue).queued == READERS
            pair = []
            for i in range(2):
                log = tmp_path / f"worker-{round_}-{i}.log"
                pair.append(start_worker(env, "--until-idle", log=log))
                logs[pair[-1].pid] = log
            processes += pair
            # The victim: one of the pair, or (when earlier rounds' workers took this issue's
            # claims of 1,000 first) any worker, that holds a claim right now.
            holders: list[subprocess.Popen[bytes]] = []
            someone_holds = partial(pick_holders, services.sessions, pair, processes, holders)
            wait_until(someone_holds, timeout=30, what=f"a worker of round {round_} claims a batch")
            victim = rng.choice(holders)
            holds = partial(holds_batch, services.sessions, victim)
            # Let a random time pass and kill it the next moment it holds a batch (if it gets
            # none within 2 s, kill it anyway).
            delay = rng.uniform(0.0, 0.5)
            time.sleep(delay)
            wait_for(holds, timeout=2, interval=0.005)
            victim.kill()
            assert victim.wait(10) == -signal.SIGKILL, f"{victim.pid} ended by itself: {logs[victim.pid].read_text()}"
            held = leased_by(services.sessions, victim.pid)
            arrivals.update()
            arrived = sum(1 for _, i, s in held if arrivals.counts[make_message_id(i, s, domain)])
            kills.append(Kill(round_, victim.pid, delay, frozenset((i, s) for _, i, s in held), arrived))

        survivors = [p for p in processes if p.returncode is None]
        for process in survivors:
            process.wait(timeout=max(30.0, 300 - (time.monotonic() - started)))  # generous: CI machines are shared
        failed = [p.pid for p in survivors if p.returncode != 0]
        assert not failed, "\n".join(f"worker {pid} failed: {logs[pid].read_text()[-3000:]}" for pid in failed)
        elapsed = time.monotonic() - started
        arrivals.update()
    finally:
        stop(processes)

    held_by_kills: Counter[tuple[int, int]] = Counter(key for kill in kills for key in kill.in_flight)
    allowed = {make_message_id(i, s, domain): 1 + times for (i, s), times in held_by_kills.items()}
    duplicates: dict[int, int] = {}
    for round_, issue in enumerate(issues):
        expected = expected_messages(services.sessions, issue, domain)
        got = arrivals.of_issue(issue)
        assert len(expected) == READERS
        missing = sorted(set(expected) - set(got))
        assert not missing, f"round {round_}: {len(missing)} readers never got issue {issue}, e.g. {missing[:3]}"
        assert set(got) == set(expected), f"round {round_}: unknown Message-IDs {sorted(set(got) - set(expected))[:3]}"
        assert all(arrivals.recipients[mid] == {expected[mid]} for mid in got), f"round {round_}: wrong recipient"
        # A reader got the issue twice only if a killed worker held their delivery.
        too_many = {mid: n for mid, n in got.items() if n > allowed.get(mid, 1)}
        assert not too_many, f"round {round_}: readers got issue {issue} more often than a crash explains: {too_many}"
        duplicates[round_] = sum(got.values()) - READERS
        assert delivery_states(services.sessions, issue) == {"sent": READERS}, f"round {round_}"
        # What `issues status` shows (the trigger-kept tally) is the GROUP BY, after every kill.
        assert {k: n for k, n in services.store.counts(issue).items() if n} == {"sent": READERS}, f"round {round_}"
        assert issue_status(services.sessions, issue) is IssueStatus.SENT

    largest = max(duplicates.values())
    lines, per_kill = [], []
    for k in kills:
        of_issues = ", ".join(str(i) for i in sorted({i for i, _ in k.in_flight})) or "-"
        twice = sum(1 for i, s in k.in_flight if arrivals.counts[make_message_id(i, s, domain)] > 1)
        per_kill.append(twice)
        lines.append(f"  round {k.round}: killed worker {k.pid} {k.delay:.2f} s after its first batch, holding "
                     f"{len(k.in_flight)} rows of issue {of_issues} ({k.arrived} already delivered); "
                     f"{twice} of them arrived twice")
    lines.append("  duplicates per issue: " + ", ".join(f"{issues[r]}: {n}" for r, n in duplicates.items()))
    report = "\n".join(lines)
    summary = (f"largest duplicate count in a round: {largest} (an issue can hold rows of two killed workers); "
               f"largest caused by one killed worker: {max(per_kill)} (claims of {send_settings.batch_size}, "
               f"outcomes written every {send_settings.record_every})")
    print(f"\ncrash test (seed {seed}): {ROUNDS} rounds x {READERS} readers, {len(smtp_server.messages)} messages "
          f"in {elapsed:.1f} s\n{report}\n{summary}")
    assert all(len(k.in_flight) <= send_settings.batch_size for k in kills), f"{summary}\n{report}"
    assert max(per_kill) <= send_settings.record_every, f"{summary}\n{report}"
    assert sum(duplicates.values()) <= sum(len(k.in_flight) for k in kills), f"{summary}\n{report}"
