"""Outcomes made durable while the rest of a claim is still being sent: group commits off the wire.

The backend tells a Recorder of each result as its reply is read (``answered``, from the
connections' threads); a writer thread of the Recorder's own writes them in groups (``every``
results, or ``flush_seconds`` after the oldest unwritten one; the worker's ``write`` appends them
to its journal), so the connections never wait on the write. Before a message goes on the wire the backend asks ``admit``, which waits while
``cap`` messages are admitted and not yet written.

Invariant: at any moment at most ``cap`` messages have been admitted whose outcome is not
durable, so a process killed at any point repeats at most ``cap`` readers once its lease runs
out, whatever the size of the claim. Keeping ``every`` well under ``cap`` (half) leaves the
connections room to go on while a group is being written.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Collection, Sequence

from newsletter.mail.backends.base import SendResult

FLUSH_SECONDS = 1.0  # a slow send (a paced domain, a rate limit) still shows progress this often
TICK_SECONDS = 1.0  # how often the writer calls ``tick`` with nothing to write (lease renewals)

Answered = list[tuple[int, SendResult]]


class Recorder:
    """``write``: make a group of results durable (called from the writer thread only);
    ``gate``: called before admitting each message (a rate limit; may sleep);
    ``tick``: called by the writer between groups, returns indexes that must no longer be sent."""

    def __init__(
        self,
        write: Callable[[Answered], None],
        *,
        cap: int,
        gate: Callable[[], None] = lambda: None,
        tick: Callable[[], Collection[int]] = frozenset,
        flush_seconds: float = FLUSH_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if cap < 2:
            raise ValueError("cap must be at least 2: one message on the wire, one being written")
        self._write = write
        self._gate = gate
        self._tick = tick
        self.cap = cap
        self.every = cap // 2
        self._flush_seconds = flush_seconds
        self._clock = clock
        self._cond = threading.Condition()
        self._outstanding = 0  # admitted, outcome not yet durable
        self._pending: Answered = []  # answered, not yet handed to ``write``
        self._first_pending_at = 0.0
        self._blocked = 0  # admits waiting for room
        self._dropped: set[int] = set()
        self._answered: set[int] = set()
        self._closing = False
        self.failure: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="recorder", daemon=True)
        self._thread.start()

    # -- called by the backend's threads --

    def admit(self, index: int) -> bool:
        self._gate()
        with self._cond:
            while self._outstanding >= self.cap and self.failure is None and index not in self._dropped:
                self._blocked += 1
                self._cond.notify_all()  # the writer writes what it has rather than wait for more
                self._cond.wait()
                self._blocked -= 1
            if self.failure is not None or index in self._dropped:
                return False
            self._outstanding += 1
            return True

    def answered(self, index: int, result: SendResult) -> None:
        with self._cond:
            if not self._pending:
                self._first_pending_at = self._clock()
            self._pending.append((index, result))
            self._answered.add(index)
            if len(self._pending) >= self.every:
                self._cond.notify_all()

    # -- called by the sender once the backend has returned --

    def finish(self, results: Sequence[SendResult] = ()) -> None:
        """Write what is left, with the ``results`` (all of them, as the backend returned them) it
        never reported (messages no connection got to); stop the writer; raise what made a write
        fail, if anything did. Without ``results`` (the backend raised) only what was reported is written."""
        with self._cond:
            unanswered = [(i, result) for i, result in enumerate(results) if i not in self._answered]
            self._pending.extend(unanswered)
            self._outstanding += len(unanswered)  # written below like any other: never negative
            self._closing = True
            self._cond.notify_all()
        self._thread.join()
        if self.failure is not None:
            raise self.failure

    # -- the writer thread --

    def _due(self) -> bool:
        if not self._pending:
            return False
        return (self._closing or self._blocked > 0 or len(self._pending) >= self.every
                or self._clock() - self._first_pending_at >= self._flush_seconds)

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._due() and not (self._closing and not self._pending):
                    timeout = TICK_SECONDS
                    if self._pending:
                        timeout = max(0.0, self._first_pending_at + self._flush_seconds - self._clock())
                    if not self._cond.wait(timeout) and not self._pending:
                        break  # idle for a tick: renew leases below
                group, self._pending = self._pending, []
                closing = self._closing
            try:
                dropped = self._tick()
                if group:
                    self._write(group)
            except BaseException as exc:  # re-raised in the sender's thread by finish()
                with self._cond:
                    self.failure = exc
                    self._cond.notify_all()  # admits answer False from now on: the connections stop
                return
            with self._cond:
                self._outstanding -= len(group)
                self._dropped.update(dropped)
                self._cond.notify_all()
                if closing and not self._pending:
                    return
