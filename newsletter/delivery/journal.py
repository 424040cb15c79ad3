"""A worker's outcomes on local disk the moment they are known, replayed into the database if it dies.

A group commit to the database costs about 1.3 ms of CPU (worker and server) whatever its size, so
writing every 25 outcomes there cost a send about a tenth of its speed (docs/benchmarks.md). An
append to a file costs a few microseconds, and a flush to disk (fdatasync, at most every
``SYNC_SECONDS``) about 0.1 ms of CPU. So the recorder's groups go here
(``append``), and to the database about once a second (``clear`` once they are there), as an MTA
keeps its queue files.

Invariant: every outcome the recorder calls durable is in the database or in its worker's journal.
A journal is locked (flock) by its live worker; one whose lock is free belongs to a worker that
died, and the next worker on this machine that looks (at its start, and before it claims expired
leases) writes it into the database and deletes it (``replay_orphans``): those rows are then
recorded as sent, not taken over and sent again. Replaying twice changes nothing: an outcome is
written only to a row the dead worker still leases.

Workers on other machines do not see this machine's journals: a row taken over from there, after
its lease ran out, is sent again as before (at most one claim).
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import re
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timezone
from pathlib import Path

from newsletter.delivery.models import DeliveryStatus
from newsletter.delivery.outcomes import epoch_seconds
from newsletter.delivery.types import DomainCount, Outcome
from newsletter.errors import Unavailable

log = logging.getLogger(__name__)
SUFFIX = ".journal"
# A flush to disk per group cost a send 3-4 % of its speed (docs/benchmarks.md); at most one per
# 0.1 s leaves a machine crash (not a kill) to repeat at most 0.1 s of answered sends more.
SYNC_SECONDS = 0.1
Record = Callable[[str, Sequence[Outcome], Sequence[DomainCount]], None]


class JournalUnavailable(Unavailable):
    """The worker cannot write its journal (the data directory is missing, not writable, full)."""


def _moment(epoch: float | None) -> datetime | None:
    return None if epoch is None else datetime.fromtimestamp(epoch, timezone.utc)


def _line(outcomes: Sequence[Outcome], domains: Sequence[DomainCount]) -> bytes:
    return json.dumps([
        [[o.delivery_id, o.subscriber_id, o.status.value, o.attempts, o.code, o.reply, o.message_id,
          epoch_seconds(o.sent_at), epoch_seconds(o.next_attempt_at)] for o in outcomes],
        [[d.issue_id, d.domain, d.sent, d.deferred] for d in domains],
    ], separators=(",", ":")).encode() + b"\n"


def read(data: bytes) -> tuple[str, list[Outcome], list[DomainCount]]:
    """A journal's worker, outcomes and domain counts. A torn last line (the worker died while
    writing it) is left out: its outcomes were never called durable."""
    lines = data.split(b"\n")
    if len(lines) < 2:  # killed before its header was written: nothing was journaled
        return "", [], []
    worker = json.loads(lines[0])["worker"]
    outcomes: list[Outcome] = []
    domains: list[DomainCount] = []
    for line in lines[1:-1]:  # the part after the last newline is empty or torn
        rows, counts = json.loads(line)
        outcomes += [Outcome(i, s, DeliveryStatus(st), a, c, r, m, _moment(t), _moment(n))
                     for i, s, st, a, c, r, m, t, n in rows]
        domains += [DomainCount(i, d, sent, deferred) for i, d, sent, deferred in counts]
    return worker, outcomes, domains


class Journal:
    """One worker's journal: ``<directory>/<worker>.journal``, locked while the worker lives."""

    def __init__(self, directory: Path, worker: str, clock: Callable[[], float] = time.monotonic,
                 sync: Callable[[int], None] = os.fdatasync) -> None:
        self._clock = clock
        self._sync = sync
        self._synced_at = -SYNC_SECONDS
        self.path = directory / (re.sub(r"[^A-Za-z0-9._-]", "_", worker) + SUFFIX)
        self._header = json.dumps({"worker": worker}).encode() + b"\n"
        try:
            directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            # Made under another name, locked and headed, then renamed: a journal is never seen
            # unlocked while its worker lives. (Created in place, another worker looking for
            # orphans could lock it between its open and its lock, and this worker then stopped.)
            making = self.path.with_name(self.path.name + ".new")
            self._fd = os.open(making, os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND, 0o600)
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            os.write(self._fd, self._header)
            os.rename(making, self.path)
        except OSError as exc:
            raise JournalUnavailable(f"cannot keep the worker's journal in {directory}: {exc.strerror or exc}") from exc
        self.empty = True

    def append(self, outcomes: Sequence[Outcome], domains: Sequence[DomainCount]) -> None:
        """Durable against a kill of this process when it returns (the kernel has the line). On
        disk too, against a crash of the machine, unless the disk was flushed under
        ``SYNC_SECONDS`` ago: then it goes with the next append's flush, or the database write."""
        try:
            os.write(self._fd, _line(outcomes, domains))
            self.empty = False
            now = self._clock()
            if now - self._synced_at >= SYNC_SECONDS:
                self._sync(self._fd)
                self._synced_at = now
        except OSError as exc:  # a full disk: the worker stops admitting and exits with this
            raise JournalUnavailable(f"cannot write the worker's journal {self.path}: {exc.strerror or exc}") from exc

    def clear(self) -> None:
        """Everything appended is in the database now."""
        if not self.empty:
            os.ftruncate(self._fd, len(self._header))
            self.empty = True

    def close(self) -> None:
        """Deleted when everything is in the database; otherwise left for the next worker to replay."""
        if self.empty:
            self.path.unlink(missing_ok=True)
        os.close(self._fd)  # the lock goes with it


def _orphans(directory: Path) -> Iterator[Path]:
    """Journals whose worker is gone, each locked for the caller while it is handled."""
    for path in sorted(directory.glob(f"*{SUFFIX}")):
        try:
            fd = os.open(path, os.O_RDWR)
        except FileNotFoundError:
            continue  # replayed and deleted by another worker just now
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)  # its worker is alive
            continue
        try:
            yield path
        finally:
            os.close(fd)


def replay_orphans(directory: Path, record: Record) -> int:
    """Write the journals of dead workers into the database and delete them; how many outcomes.

    A journal that cannot be read is renamed ``.unreadable`` and logged, never replayed."""
    if not directory.is_dir():
        return 0
    replayed = 0
    for path in _orphans(directory):
        data = path.read_bytes()
        try:
            worker, outcomes, domains = read(data)
        except (ValueError, KeyError, TypeError, IndexError):
            log.error("journal %s cannot be read; set aside as %s.unreadable", path, path.name, exc_info=True)
            path.rename(path.with_name(path.name + ".unreadable"))
            continue
        if outcomes:
            record(worker, outcomes, domains)  # a failure leaves the journal for the next look
            log.info("replayed %d outcomes of worker %s, which died before writing them", len(outcomes), worker)
        path.unlink(missing_ok=True)
        replayed += len(outcomes)
    return replayed
