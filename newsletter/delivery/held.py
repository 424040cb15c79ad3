"""One pooled connection kept by a worker for its outcome writes.

It was made when a worker wrote its outcomes in group commits of ``record_every / 2`` (25),
dozens of transactions a second; they now go to its journal (delivery/journal.py) and reach the
database about once a second and at the end of each claim. Checking a connection out of the pool
for each write costs a pre-ping round trip and the session's set-up (0.89 -> 0.59 ms of CPU per
write, measured in docs/benchmarks.md); held, it is pinged only after it sat idle, as the pool
would on checkout.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from sqlalchemy import Connection, Engine

IDLE_CHECK_SECONDS = 5.0  # idle longer than this: handed back, and the next checkout pings it


class HeldConnection:
    def __init__(self, engine: Engine, clock: Callable[[], float] = time.monotonic) -> None:
        self._engine = engine
        self._clock = clock
        self._conn: Connection | None = None
        self._used = 0.0
        self._lock = threading.Lock()

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """The held connection inside a transaction, committed when the block ends."""
        with self._lock:
            conn = self._conn
            if conn is not None and self._clock() - self._used > IDLE_CHECK_SECONDS:
                conn.close()
                conn = None
            if conn is None:
                conn = self._conn = self._engine.connect()  # the pool pings it (pool_pre_ping)
            try:
                with conn.begin():
                    yield conn
            except BaseException:
                # Whatever went wrong, the next write starts from a fresh checkout.
                self._conn = None
                conn.close()
                raise
            finally:
                self._used = self._clock()

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
