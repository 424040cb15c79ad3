"""A sliding-window limit per client address, kept in memory by one app instance.

The public forms that send mail to an address someone typed (subscribe, change of address) use
it, so one client cannot make the list mail a stranger's inbox again and again: with double
opt-in and the per-address cap on confirmation emails, list bombing stays impossible.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

MAX_CLIENTS = 10_000  # memory bound under a flood of addresses; the oldest are forgotten first


class SlidingWindow:
    """At most ``limit`` hits per key in any ``window_seconds``; thread-safe (sync routes run in a pool)."""

    def __init__(
        self, limit: int, window_seconds: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if limit < 1 or window_seconds <= 0:
            raise ValueError("a sliding window needs a limit of at least 1 and a positive window")
        self.limit = limit
        self.window_seconds = window_seconds
        self._clock = clock
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def hit(self, key: str) -> float:
        """Count one hit for ``key``: 0.0 if it is allowed, else the seconds until one will be
        (a refused hit is not counted, so waiting always helps)."""
        now = self._clock()
        with self._lock:
            hits = self._hits.get(key)
            if hits is None:
                self._forget_stale(now)
                hits = self._hits[key] = deque()
            while hits and hits[0] <= now - self.window_seconds:
                hits.popleft()
            if len(hits) >= self.limit:
                return hits[0] + self.window_seconds - now
            hits.append(now)
            return 0.0

    def _forget_stale(self, now: float) -> None:
        if len(self._hits) < MAX_CLIENTS:
            return
        for key in [k for k, hits in self._hits.items() if not hits or hits[-1] <= now - self.window_seconds]:
            del self._hits[key]
        while len(self._hits) >= MAX_CLIENTS:  # still full: a flood; forget the longest known
            del self._hits[next(iter(self._hits))]
