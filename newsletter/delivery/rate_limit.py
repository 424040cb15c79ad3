"""A token-bucket limit on messages per second and per hour, for one worker process."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class _Bucket:
    def __init__(self, rate: float, capacity: float, clock: Callable[[], float]) -> None:
        self._rate = rate
        self._capacity = capacity
        self._tokens = capacity
        self._clock = clock
        self._at = clock()

    def wait_for(self, n: float) -> float:
        """Take n tokens (going into debt if needed); return how long to sleep to repay it."""
        now = self._clock()
        self._tokens = min(self._capacity, self._tokens + (now - self._at) * self._rate)
        self._at = now
        self._tokens -= n
        return 0.0 if self._tokens >= 0 else -self._tokens / self._rate


class RateLimiter:
    """0 means unlimited. Several processes each get their share (see ``share``)."""

    def __init__(
        self,
        per_second: float = 0,
        per_hour: float = 0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._buckets = []
        if per_second:
            self._buckets.append(_Bucket(per_second, max(per_second, 1.0), clock))
        if per_hour:
            # Spread over the hour rather than a burst of the whole hour's quota at the start.
            self._buckets.append(_Bucket(per_hour / 3600, max(per_hour / 60, 1.0), clock))
        self._sleep = sleep
        self._lock = threading.Lock()

    def acquire(self, n: int) -> None:
        if not self._buckets or n <= 0:
            return
        with self._lock:
            delay = max(bucket.wait_for(n) for bucket in self._buckets)
        if delay > 0:
            self._sleep(delay)

    @staticmethod
    def share(per_second: float, per_hour: float, processes: int) -> tuple[float, float]:
        """Each of ``processes`` local workers takes an equal part of the backend's limit."""
        return per_second / processes, per_hour / processes
