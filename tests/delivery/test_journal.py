"""A worker's journal: outcomes on disk as they are known; a dead worker's journal is written into
the database by the next worker here before it takes over the dead worker's rows, so what was
sent and journaled is not sent again."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest
from sqlalchemy import func, select

from newsletter.delivery import journal
from newsletter.delivery.dispatch import Worker
from newsletter.delivery.journal import Journal, JournalUnavailable, replay_orphans
from newsletter.delivery.models import Delivery, DeliveryStatus
from newsletter.delivery.types import DomainCount, Outcome
from newsletter.mail.backends.memory import MemoryBackend
from newsletter.readers.models import Subscriber, SubscriberEvent, SubscriberEventKind, SubscriberStatus
from newsletter.services import Services
from tests.cli_runner import Run
from tests.factories import add_subscribers

SENT_AT = datetime(2026, 3, 4, 5, 6, 7, 123456, tzinfo=timezone.utc)


def sent(delivery_id: int, subscriber_id: int) -> Outcome:
    return Outcome(delivery_id, subscriber_id, DeliveryStatus.SENT, 1, 250, "250 2.0.0 Ok: queued\x00",
                   f"<m{delivery_id}@example.org>", SENT_AT)


def states(services: Services) -> dict[str, int]:
    with services.sessions() as session:
        rows = session.execute(select(Delivery.status, func.count()).group_by(Delivery.status)).all()
    return {status.value: n for status, n in rows}


def test_what_a_dead_worker_journaled_is_recorded_not_sent_again(services: Services, issue_id: int) -> None:
    add_subscribers(services.sessions, 5)
    services.publisher.queue(issue_id)
    directory = services.settings.data_dir / "journal"
    # A worker claims all five with a lease that has already run out, journals three sends, dies.
    claims = services.store.claim("dead-worker", 5, lease_seconds=0).claims
    dead = Journal(directory, "dead-worker")
    dead.append([sent(c.delivery_id, c.subscriber_id) for c in claims[:2]], [])
    dead.append([sent(claims[2].delivery_id, claims[2].subscriber_id)], [DomainCount(issue_id, "example.net", 1, 0)])
    dead.close()  # not cleared: left on disk, unlocked, as a killed process leaves it

    backend = MemoryBackend(services.settings)
    Worker(services.store, backend, services.settings, services.links).run(until_idle=True)

    assert sorted(m.recipient for m in backend.sent) == sorted(c.email for c in claims[3:])  # only the two never sent
    assert states(services) == {"sent": 5} and services.store.counts(issue_id)["sent"] == 5
    with services.sessions() as session:
        replayed = session.get(Delivery, claims[0].delivery_id)
        assert replayed is not None and replayed.sent_at == SENT_AT and replayed.message_id == f"<m{claims[0].delivery_id}@example.org>"
    assert list(directory.glob("*")) == []  # replayed and deleted; the live worker's own removed at its end


def test_a_live_workers_journal_is_left_alone_and_a_second_replay_changes_nothing(
    services: Services, issue_id: int
) -> None:
    add_subscribers(services.sessions, 2)
    services.publisher.queue(issue_id)
    directory = services.settings.data_dir / "journal"
    first, second = services.store.claim("alive", 2, lease_seconds=60).claims
    alive = Journal(directory, "alive")
    refused = Outcome(first.delivery_id, first.subscriber_id, DeliveryStatus.BOUNCED, 1, 550, "550 5.1.1 no such user", None)
    alive.append([refused], [DomainCount(issue_id, "gmail.com", 0, 0)])
    assert replay_orphans(directory, services.store.record) == 0  # locked: its worker is still sending
    assert alive.path.exists() and states(services) == {"sending": 2}

    # The same journal, copied as if its worker had died (no lock on the copy): replayed once;
    # a copy replayed again writes nothing, since the row is no longer leased to that worker.
    copy = directory / "copy.journal"
    for _ in range(2):
        copy.write_bytes(alive.path.read_bytes())
        assert replay_orphans(directory, services.store.record) == 1
        assert not copy.exists()
    assert states(services) == {"bounced": 1, "sending": 1} and services.store.counts(issue_id)["bounced"] == 1
    with services.sessions() as session:  # the reader's standing changed once, with one event
        assert session.get(Subscriber, first.subscriber_id).status is SubscriberStatus.BOUNCED  # type: ignore[union-attr]
        events = session.scalars(select(SubscriberEvent.kind).where(SubscriberEvent.subscriber_id == first.subscriber_id))
        assert list(events).count(SubscriberEventKind.BOUNCED) == 1
    alive.close()
    assert alive.path.exists()  # it held an outcome not yet in the database: kept for a replay


def test_a_torn_last_line_is_left_out_and_an_unreadable_journal_is_set_aside(tmp_path: Path) -> None:
    live = Journal(tmp_path, "w:1:abc")
    live.append([sent(1, 1), sent(2, 2)], [DomainCount(7, "gmail.com", 2, 0)])
    live.append([sent(3, 3)], [])
    data = live.path.read_bytes()
    worker, outcomes, domains = journal.read(data[:-5])  # the kill came in the middle of the second append
    assert worker == "w:1:abc" and [o.delivery_id for o in outcomes] == [1, 2]
    assert outcomes[0] == sent(1, 1) and domains == [DomainCount(7, "gmail.com", 2, 0)]
    assert [o.delivery_id for o in journal.read(data)[1]] == [1, 2, 3]
    live.clear()
    assert journal.read(live.path.read_bytes())[1] == []
    live.close()
    assert not live.path.exists()  # everything reached the database: nothing to replay

    (tmp_path / "torn-header.journal").write_bytes(b'{"wor')  # killed while creating it
    junk = tmp_path / "junk.journal"
    junk.write_bytes(b"not json\n")
    assert replay_orphans(tmp_path, lambda *args: None) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["junk.journal.unreadable"]


def test_a_journal_is_unlocked_when_its_process_is_killed(tmp_path: Path) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from pathlib import Path; from newsletter.delivery.journal import Journal; "
         "j = Journal(Path(sys.argv[1]), 'killed'); j.append([], []); print('ready', flush=True); time.sleep(60)",
         str(tmp_path)], stdout=subprocess.PIPE)
    assert holder.stdout is not None and holder.stdout.readline() == b"ready\n"
    seen: list[str] = []
    assert replay_orphans(tmp_path, lambda worker, *rest: seen.append(worker)) == 0 and seen == []
    holder.kill()
    holder.wait()
    assert replay_orphans(tmp_path, lambda worker, *rest: seen.append(worker)) == 0  # an empty group: nothing to write
    assert list(tmp_path.glob("*.journal")) == [] and os.listdir(tmp_path) == []


def test_the_disk_is_flushed_at_most_every_sync_seconds_and_every_line_is_written_at_once(tmp_path: Path) -> None:
    now = [100.0]
    flushes: list[float] = []
    live = Journal(tmp_path, "w", clock=lambda: now[0], sync=lambda fd: flushes.append(now[0]))
    for n, step in enumerate((0.0, 0.03, 0.03, 0.05, 0.2), start=1):  # appends at 0, 30, 60, 110, 310 ms
        now[0] += step
        live.append([sent(n, n)], [])
        # Flushed to disk or not, the line is in the file at once: a replay after a kill finds it.
        assert [o.delivery_id for o in journal.read(live.path.read_bytes())[1]] == list(range(1, n + 1))
    assert flushes == pytest.approx([100.0, 100.11, 100.31])  # the first, then one every SYNC_SECONDS (0.1 s) at most
    live.clear()
    live.close()


def test_a_worker_that_cannot_keep_its_journal_stops_with_a_clear_error_before_claiming(
    services: Services, issue_id: int
) -> None:
    add_subscribers(services.sessions, 3)
    services.publisher.queue(issue_id)
    services.settings.data_dir.mkdir(parents=True, exist_ok=True)
    (services.settings.data_dir / "journal").write_text("a file where the journal folder should be")
    backend = MemoryBackend(services.settings)
    with pytest.raises(JournalUnavailable, match=r"cannot keep the worker's journal in .*journal: File exists"):
        Worker(services.store, backend, services.settings, services.links).run(until_idle=True)
    assert backend.sent == [] and states(services) == {"queued": 3}  # nothing claimed, nothing sent


def test_the_worker_command_says_why_it_cannot_keep_its_journal(run: Run, tmp_path: Path) -> None:
    (tmp_path / "var").mkdir(exist_ok=True)
    (tmp_path / "var" / "journal").write_text("not a folder")
    done = run("worker", "--until-idle", ok=False)
    assert done.returncode not in (0, 70) and "Traceback" not in done.stderr
    assert "error: cannot keep the worker's journal in" in done.stderr and "File exists" in done.stderr


def test_a_journal_being_made_is_never_taken_for_a_dead_workers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Workers starting together: one looks for orphans while another is making its journal,
    between the file's creation and its lock. The new journal must be neither replayed, deleted
    nor left unlocked (found with four workers on one machine: the newcomer stopped with
    "cannot keep the worker's journal")."""
    replayed: list[str] = []
    real_flock = journal.fcntl.flock
    looked = []

    def flock_after_a_look(fd: int, operation: int) -> None:
        if not looked:  # the newcomer's own lock: another worker looks for orphans first
            looked.append(-1)  # the looker's own locks go straight through
            looked[0] = replay_orphans(tmp_path, lambda worker, outcomes, domains: replayed.append(worker))
        real_flock(fd, operation)

    monkeypatch.setattr(journal.fcntl, "flock", flock_after_a_look)
    made = Journal(tmp_path, "newcomer")
    monkeypatch.setattr(journal.fcntl, "flock", real_flock)
    try:
        assert looked == [0] and replayed == []
        assert made.path.exists() and made.path.read_bytes().startswith(b'{"worker": "newcomer"}')
        assert replay_orphans(tmp_path, lambda worker, outcomes, domains: replayed.append(worker)) == 0
        assert made.path.exists()  # still locked: left alone
    finally:
        made.close()
