"""The one small interface every delivery backend implements, and the SMTP failure model."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol
from newsletter.errors import Unavailable

if TYPE_CHECKING:
    from newsletter.config import Settings


@dataclass(frozen=True, slots=True)
class OutgoingMessage:
    """One message to one recipient: envelope plus the finished RFC 5322 bytes (CRLF line ends)."""

    sender: str  # envelope MAIL FROM
    recipient: str  # envelope RCPT TO
    data: bytes
    message_id: str
    delivery_id: int | None = None


class SendStatus(str, enum.Enum):
    SENT = "sent"
    DEFERRED = "deferred"  # temporary: try again later
    BOUNCED = "bounced"  # permanent: the address is refused


@dataclass(frozen=True, slots=True)
class SendResult:
    status: SendStatus
    code: int | None = None
    reply: str = ""
    possibly_sent: bool = False  # connection lost after DATA: the server may have taken it


class BackendError(Unavailable):
    """The backend cannot send at all (server unreachable, login refused): nothing was sent."""


class Backend(Protocol):
    """Sends messages. Per-message failures come back as results; only a dead backend raises."""

    def send(self, messages: Sequence[OutgoingMessage]) -> list[SendResult]:
        """Send each message; return one result per message, in the same order."""
        ...

    def close(self) -> None:
        """Release connections and files."""
        ...


class BackendFactory(Protocol):
    """What the ``newsletter.mail.backends`` entry-point group names: a class or callable taking Settings."""

    def __call__(self, settings: Settings) -> Backend: ...


def classify(code: int) -> SendStatus:
    """Mailman 3's rule: 2xx sent, 4xx temporary, 5xx permanent except 552 (mailbox full)."""
    if 200 <= code < 300:
        return SendStatus.SENT
    if code >= 500 and code != 552:
        return SendStatus.BOUNCED
    return SendStatus.DEFERRED
