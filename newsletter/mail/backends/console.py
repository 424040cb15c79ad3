"""Development backend: prints each message (envelope, headers, decoded text parts) to stdout."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from typing import TYPE_CHECKING, TextIO

from newsletter.mail.backends.base import OutgoingMessage, SendResult, SendStatus

if TYPE_CHECKING:
    from newsletter.config import Settings

RULE = "-" * 72


class ConsoleBackend:
    """Writes every message to ``stream`` (stdout by default) and reports it SENT."""

    def __init__(self, settings: Settings, stream: TextIO | None = None) -> None:
        self.settings = settings
        self._stream = stream  # None: look sys.stdout up at print time, so capture/redirect works

    def send(self, messages: Sequence[OutgoingMessage]) -> list[SendResult]:
        out = self._stream or sys.stdout
        for message in messages:
            out.write(render(message))
        out.flush()
        return [SendResult(SendStatus.SENT, 250, "printed to console") for _ in messages]

    def close(self) -> None:
        """Nothing to release."""


def render(message: OutgoingMessage) -> str:
    """The envelope, the headers as sent, then each text part decoded (no QP/base64 to read)."""
    lines = [RULE, f"MAIL FROM: <{message.sender}>", f"RCPT TO: <{message.recipient}>"]
    lines.append(f"Message-ID: {message.message_id}  delivery: {message.delivery_id}")
    lines.append(RULE)
    parsed = BytesParser(policy=policy.default).parsebytes(message.data)
    assert isinstance(parsed, EmailMessage)  # policy.default always builds EmailMessage
    lines.extend(f"{name}: {value}" for name, value in parsed.items())
    for part in parsed.walk():
        if part.is_multipart() or part.get_content_maintype() != "text":
            continue
        lines.append(f"--- {part.get_content_type()} ---")
        lines.append(_text_of(part))
    lines.append(RULE)
    return "\n".join(lines) + "\n"


def _text_of(part: EmailMessage) -> str:
    try:
        content = part.get_content()
    except (LookupError, ValueError):  # unknown charset or broken encoding: show what we can
        payload = part.get_payload(decode=True)
        return payload.decode("utf-8", "replace") if isinstance(payload, bytes) else str(payload)
    return str(content).rstrip("\n")
