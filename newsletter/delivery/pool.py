"""`newsletter worker --processes N`: N worker processes on this machine, each with its own
database connection and SMTP connections, sharing the queue through the database.

Processes rather than threads: personalising and writing to sockets is CPU work in Python, and
on two cores several processes beat threads (measured in docs/benchmarks.md).
"""

from __future__ import annotations

import logging
import multiprocessing
import signal
import sys
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from multiprocessing.process import BaseProcess
from types import FrameType
from typing import Any

from newsletter.mail.backends import BackendError
from newsletter.config import Settings
from newsletter.delivery.dispatch import Worker
from newsletter.delivery.heap import keep_freed_memory
from newsletter.delivery.types import StoreUnavailable
from newsletter.errors import NewsletterError
from newsletter.delivery.rate_limit import RateLimiter
from newsletter.delivery.runtime import SendingParts

log = logging.getLogger(__name__)
EXIT_STORE_LOST = 3
EXIT_BACKEND_DEAD = 4


@dataclass(frozen=True)
class WorkerOptions:
    processes: int = 1
    drain: bool = False
    until_idle: bool = False


def run_one(settings: Settings, options: WorkerOptions, stop: threading.Event | None = None,
            on_batch: Callable[[int], None] | None = None) -> int:
    """One worker in this process; returns how many deliveries it handled."""
    keep_freed_memory()  # each claim's message buffers are reused, not faulted in again (delivery/heap.py)
    parts = SendingParts.build(settings)  # the parent migrated once for every process
    try:
        limits = parts.store.sending_settings(settings)  # the editor's limits, read once at start
        per_second, per_hour = RateLimiter.share(limits.rate_per_second, limits.rate_per_hour, options.processes)
        worker = Worker(parts.store, parts.backend, settings, parts.links, limiter=RateLimiter(per_second, per_hour))
        log.info("worker %s sending through %s", worker.name, settings.backend)
        return worker.run(stop=stop, drain=options.drain, until_idle=options.until_idle,
                          on_batch=on_batch)
    finally:
        parts.close()


def stop_on_signals() -> threading.Event:
    """SIGTERM and SIGINT set the returned event: the worker finishes and records the batch in
    flight, then exits, so no lease is left to expire and no reader is mailed twice."""
    stop = threading.Event()

    def _stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    return stop


def _child(settings: Settings, options: WorkerOptions) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(processName)s %(levelname)s %(message)s")
    stop = stop_on_signals()
    try:
        run_one(settings, options, stop)
    except StoreUnavailable as exc:
        print(f"error: {exc}; the deliveries this worker held go back to the queue when their lease expires",
              file=sys.stderr)
        sys.exit(EXIT_STORE_LOST)
    except BackendError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(EXIT_BACKEND_DEAD)
    except NewsletterError as exc:  # as the CLI maps it in the parent (a journal it cannot write)
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(exc.exit_code)


def run_pool(settings: Settings, options: WorkerOptions,
             beside: Callable[[], AbstractContextManager[object]] | None = None) -> int:
    """Start the processes and wait for them; the exit code is the first failure's, else 0.

    ``beside``: what the parent runs while they work (the webhook deliverer), entered once the
    children are forked, so no thread of it is copied into them."""
    # Fork where there is fork: the children start with everything imported (spawning four
    # processes that each import the package cost about a second of a 20 s send). The parent
    # holds no connection or thread at this point, so nothing is shared by accident.
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    context: Any = multiprocessing.get_context(method)  # typeshed's BaseContext lacks .Process
    children: list[BaseProcess] = [
        context.Process(target=_child, args=(settings, options), name=f"worker-{i + 1}")
        for i in range(options.processes)
    ]
    for child in children:
        child.start()

    def _forward(signum: int, frame: FrameType | None) -> None:
        for child in children:
            if child.is_alive() and child.pid:
                child.terminate()

    previous = signal.signal(signal.SIGTERM, _forward)
    company = beside() if beside is not None else nullcontext()
    try:
        with company:
            for child in children:
                child.join()
    except KeyboardInterrupt:
        _forward(signal.SIGINT, None)
        for child in children:
            child.join()
    finally:
        signal.signal(signal.SIGTERM, previous)
    return next((c.exitcode for c in children if c.exitcode), 0) or 0
