"""One-off mail (confirmations, the welcome, replies by email, the editor's notices): one
message handed to the backend at once, with the list's plain bounce address as envelope
sender, so its bounces come back to `newsletter inbound` like an issue's do."""

from __future__ import annotations

from newsletter.mail.backends import Backend, OutgoingMessage, SendResult
from newsletter.config import Settings
from newsletter.mail.headers import address as envelope_address


def send_one_off(backend: Backend, settings: Settings, to_email: str, message_id: str, data: bytes) -> SendResult:
    """Send one finished message to `to_email`; BackendError if the backend cannot take it.

    `settings` are the start-up Settings: the bounce address stays on the domain `newsletter
    inbound` answers for, whatever From address the editor saved.
    """
    sender = envelope_address(settings.bounce_address)
    [result] = backend.send([OutgoingMessage(sender, envelope_address(to_email), data, message_id)])
    return result
