"""FileDropBackend: every message becomes a file in a folder, named by its Message-ID.

The folder is $NEWSLETTER_TEST_PLUGIN_DIR, or ``plugin-drop`` in the data dir. The envelope
recipient is kept beside each message (``.rcpt``), and every close() appends a line to
``closed.log``, so a test can see the backend's whole life from outside the process.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from newsletter.mail.backends import OutgoingMessage, SendResult, SendStatus

if TYPE_CHECKING:
    from newsletter.config import Settings

_UNSAFE = re.compile(r"[^A-Za-z0-9._@+-]+")


class FileDropBackend:
    def __init__(self, settings: Settings) -> None:
        configured = os.environ.get("NEWSLETTER_TEST_PLUGIN_DIR")
        self.directory = Path(configured) if configured else Path(settings.data_dir) / "plugin-drop"

    def send(self, messages: Sequence[OutgoingMessage]) -> list[SendResult]:
        self.directory.mkdir(parents=True, exist_ok=True)
        results = []
        for message in messages:
            name = _UNSAFE.sub("_", message.message_id.strip("<>"))
            (self.directory / f"{name}.eml").write_bytes(message.data)
            (self.directory / f"{name}.rcpt").write_text(message.recipient, encoding="utf-8")
            results.append(SendResult(SendStatus.SENT, 250, f"dropped as {name}.eml"))
        return results

    def close(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        with open(self.directory / "closed.log", "a", encoding="utf-8") as log:
            log.write(f"{os.getpid()}\n")
