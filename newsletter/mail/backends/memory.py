"""In-memory test double (like django-anymail's test backend): records messages, scriptable outcomes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from newsletter.mail.backends.base import NOT_ADMITTED, BackendError, OutgoingMessage, Progress, SendResult, SendStatus

if TYPE_CHECKING:
    from newsletter.config import Settings

SENT_OK = SendResult(SendStatus.SENT, 250, "OK (memory backend)")


class MemoryBackend:
    """Keeps what it "sends" in ``sent``; ``outcomes`` scripts a result per recipient address.

    ``fail_with`` makes every ``send()`` raise BackendError, as a dead backend would. All three
    attributes are public and may be changed between calls.
    """

    def __init__(
        self,
        settings: Settings,
        outcomes: dict[str, SendResult] | None = None,
        fail_with: Exception | None = None,
    ) -> None:
        self.settings = settings
        self.outcomes: dict[str, SendResult] = outcomes if outcomes is not None else {}
        self.fail_with = fail_with
        self.sent: list[OutgoingMessage] = []  # only the messages whose outcome was SENT
        self.attempts: list[tuple[OutgoingMessage, SendResult]] = []  # every message, every result
        self.send_calls = 0
        self.closed = False

    def send(self, messages: Sequence[OutgoingMessage]) -> list[SendResult]:
        return self.send_reporting(messages, None)

    def send_reporting(self, messages: Sequence[OutgoingMessage], progress: Progress | None) -> list[SendResult]:
        """As the SMTP backend does: each message admitted first, each result reported as it is known."""
        self.send_calls += 1
        if self.fail_with is not None:
            if isinstance(self.fail_with, BackendError):
                raise self.fail_with
            raise BackendError(f"memory backend scripted to fail: {self.fail_with}") from self.fail_with
        results: list[SendResult] = []
        for index, message in enumerate(messages):
            if progress is not None and not progress.admit(index):
                results.append(NOT_ADMITTED)
                continue
            result = self.outcomes.get(message.recipient, SENT_OK)
            self.attempts.append((message, result))
            if result.status is SendStatus.SENT:
                self.sent.append(message)
            results.append(result)
            if progress is not None:
                progress.answered(index, result)
        return results

    def close(self) -> None:
        self.closed = True

    def clear(self) -> None:
        """Forget recorded messages (the script stays)."""
        self.sent.clear()
        self.attempts.clear()
        self.send_calls = 0
