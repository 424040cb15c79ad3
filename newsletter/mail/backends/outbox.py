"""File backend: each message becomes one ``.eml`` file in the outbox directory, written atomically."""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from newsletter.mail.backends.base import BackendError, OutgoingMessage, SendResult, SendStatus

if TYPE_CHECKING:
    from newsletter.config import Settings

_UNSAFE = re.compile(r"[^A-Za-z0-9._@+=-]+")
_MAX_ID_CHARS = 100


class OutboxBackend:
    """Writes ``<UTC time with microseconds>-<message id>.eml`` files; names sort by time.

    Each file is written to a dot-prefixed temporary name in the same directory, fsynced, then
    renamed (``os.replace``), so a reader listing ``*.eml`` never sees half a file.
    """

    def __init__(self, settings: Settings) -> None:
        self.directory = Path(settings.outbox_path)
        self._last_stamp: datetime | None = None

    def send(self, messages: Sequence[OutgoingMessage]) -> list[SendResult]:
        if not messages:
            return []
        try:
            # Readers' addresses and personal links: for the service's own user only.
            self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as exc:
            raise BackendError(f"cannot create outbox directory {self.directory}: {exc}") from exc
        results: list[SendResult] = []
        for message in messages:
            try:
                path = self._write(message)
            except OSError as exc:  # e.g. disk full: this message waits, the others may still fit
                results.append(SendResult(SendStatus.DEFERRED, None, f"cannot write outbox file: {exc}"))
            else:
                results.append(SendResult(SendStatus.SENT, 250, f"written to {path.name}"))
        _fsync_directory(self.directory)  # make the renames durable once per batch
        return results

    def close(self) -> None:
        """Nothing to release: every file is closed as soon as it is written."""

    def _write(self, message: OutgoingMessage) -> Path:
        final = self.directory / f"{self._stamp():%Y%m%dT%H%M%S.%f}-{sanitise(message.message_id)}.eml"
        fd, tmp_name = tempfile.mkstemp(dir=self.directory, prefix=".", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(message.data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp_name, final)
        except BaseException:
            Path(tmp_name).unlink(missing_ok=True)
            raise
        return final

    def _stamp(self) -> datetime:
        """Now in UTC, strictly increasing per backend so two files never share a name."""
        now = datetime.now(UTC)
        if self._last_stamp is not None and now <= self._last_stamp:
            now = self._last_stamp + timedelta(microseconds=1)
        self._last_stamp = now
        return now


def sanitise(message_id: str) -> str:
    """A file-name-safe form of a Message-ID: no brackets, slashes or spaces, bounded length."""
    cleaned = _UNSAFE.sub("_", message_id.strip().strip("<>")).strip("._")
    return cleaned[:_MAX_ID_CHARS] or "message"


def _fsync_directory(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # some platforms cannot open a directory; the files themselves are synced
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
