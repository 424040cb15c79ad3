"""One active scheduler: the others wait as standbys and take over when it dies.

PostgreSQL: a session-level advisory lock held on a dedicated connection; the server frees it
when that connection dies, so a standby's next try succeeds. SQLite (one machine): an
exclusive ``flock`` on a file beside the database, freed by the kernel when the process dies.
"""

from __future__ import annotations

import fcntl
import logging
import os
import threading
from pathlib import Path
from typing import IO, Protocol

from sqlalchemy import Connection, Engine, text

log = logging.getLogger(__name__)
# The lock is (class, hash of database and schema): schedulers of the same application share
# it; another application in another schema of the same database does not.
ADVISORY_CLASS = 0x6E6C7363  # "nlsc"
LOCK_ARGS = "CAST(:cls AS integer), hashtext(current_database() || '.' || current_schema())"


class Leadership(Protocol):
    def try_acquire(self) -> bool: ...

    def held(self) -> bool: ...

    def release(self) -> None: ...


class AdvisoryLock:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._conn: Connection | None = None
        self.session_pid: int | None = None  # the PostgreSQL backend holding the lock, for logs

    def try_acquire(self) -> bool:
        conn = self._engine.connect()
        if conn.execute(text(f"SELECT pg_try_advisory_lock({LOCK_ARGS})"), {"cls": ADVISORY_CLASS}).scalar():
            self.session_pid = conn.execute(text("SELECT pg_backend_pid()")).scalar()
            conn.commit()
            self._conn = conn
            return True
        conn.close()
        return False

    def held(self) -> bool:
        """Still ours: the connection that holds the lock is alive."""
        if self._conn is None:
            return False
        try:
            self._conn.execute(text("SELECT 1"))
            self._conn.commit()
            return True
        except Exception:  # any failure means the session, and with it the lock, is gone
            return False

    def release(self) -> None:
        if self._conn is not None:
            try:
                self._conn.execute(text(f"SELECT pg_advisory_unlock({LOCK_ARGS})"), {"cls": ADVISORY_CLASS})
                self._conn.commit()
            finally:
                self._conn.close()
                self._conn = None


class FileLock:
    def __init__(self, path: Path) -> None:
        self._path = path
        self._file: IO[str] | None = None

    def try_acquire(self) -> bool:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        handle = self._path.open("a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            return False
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        self._file = handle
        return True

    def held(self) -> bool:
        return self._file is not None

    def release(self) -> None:
        if self._file is not None:
            fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()
            self._file = None


def leadership_for(engine: Engine, data_dir: Path) -> Leadership:
    if engine.dialect.name == "postgresql":
        return AdvisoryLock(engine)
    return FileLock(data_dir / "scheduler.lock")


def wait_for_leadership(lock: Leadership, stop: threading.Event, retry_seconds: float = 2.0) -> bool:
    """Block as a standby until this process leads (True) or is told to stop (False)."""
    announced = False
    while not stop.is_set():
        if lock.try_acquire():
            log.info("this scheduler is now the active one")
            return True
        if not announced:
            log.info("another scheduler is active; waiting as a standby")
            announced = True
        stop.wait(retry_seconds)
    return False
