"""The worker's webhook deliverer: a thread beside the send loop, in the worker's parent process,
on its own engine, looking for due messages about once a second. The send path never waits on it."""

from __future__ import annotations

import logging
import threading
import time
from types import TracebackType

from newsletter.config import Settings
from newsletter.webhooks.deliver import deliver_due
from newsletter.webhooks.messages import prune

log = logging.getLogger(__name__)
POLL_SECONDS = 1.0
PRUNE_SECONDS = 3600.0  # old delivered and failed messages are deleted about once an hour


class Courier:
    """``with Courier(settings):`` delivers webhooks until the block ends. ``flush``: one last pass
    over what is due when it ends (a worker run with --until-idle or --drain, so the events of the
    send it finished are not left waiting for the next worker)."""

    def __init__(self, settings: Settings, poll_seconds: float = POLL_SECONDS, flush: bool = False) -> None:
        self._settings = settings
        self._poll = poll_seconds
        self._flush = flush
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="webhooks", daemon=True)

    def __enter__(self) -> Courier:
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        from newsletter.db.engine import make_engine, session_factory

        engine = make_engine(self._settings.database)
        sessions = session_factory(engine)
        pruned_at: float | None = None
        try:
            while not self._stop.is_set():
                if pruned_at is None or time.monotonic() - pruned_at >= PRUNE_SECONDS:
                    pruned_at = time.monotonic()
                    try:
                        prune(sessions)
                    except Exception:  # noqa: BLE001 - a dead database: the next hour tries again
                        log.exception("pruning old webhook messages failed")
                try:
                    report = deliver_due(sessions, allow_private=self._settings.webhooks_allow_private)
                except Exception:  # noqa: BLE001 - a dead database or a bug: said, and tried again
                    log.exception("webhook delivery failed; trying again")
                    report = None
                if report is None or not report.attempted:  # a full batch: go on at once
                    self._stop.wait(self._poll)
            if self._flush:
                try:
                    while deliver_due(sessions, allow_private=self._settings.webhooks_allow_private).attempted:
                        pass
                except Exception:  # noqa: BLE001 - the next worker delivers them
                    log.exception("webhook delivery failed; the next worker delivers what is left")
        finally:
            engine.dispose()
