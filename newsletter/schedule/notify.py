"""Short plain-text emails to the editor about the weekly cycle (empty week, approval, missed send)."""

from __future__ import annotations

import logging

from newsletter.mail.backends import Backend, BackendError, SendStatus
from newsletter.config import Settings
from newsletter.mail.message import build_simple_message
from newsletter.mail.one_off import send_one_off

log = logging.getLogger(__name__)


def editor_address(settings: Settings) -> str:
    return settings.editor_email.strip() or settings.sender_email


def tell_editor(settings: Settings, backend: Backend, subject: str, text: str) -> bool:
    """Send one message to the editor; False (and a log line) if it could not be sent.

    A failed notification never stops the cycle: the state is already recorded in the database.
    """
    to = editor_address(settings)
    message_id, data = build_simple_message(
        settings, to_email=to, to_name="", subject=f"[{settings.list_name}] {subject}", text=text, html=None
    )
    try:
        result = send_one_off(backend, settings, to, message_id, data)
    except BackendError as exc:
        log.error("could not tell the editor (%s): %s", subject, exc)
        return False
    if result.status is not SendStatus.SENT:
        log.error("the mail server refused the editor's notice (%s): %s %s", subject, result.code, result.reply)
        return False
    return True
