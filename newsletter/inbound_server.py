"""The inbound SMTP server (aiosmtpd): receives mail for the list's addresses and hands it on."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from newsletter.inbound import InboundHandler

log = logging.getLogger(__name__)

DATA_SIZE_LIMIT = 10 * 1024 * 1024
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 2525


class _SmtpHandler:
    def __init__(self, handler: InboundHandler) -> None:
        self._handler = handler

    async def handle_RCPT(  # noqa: N802 - aiosmtpd's hook name
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        if not self._handler.accepts(address):
            return "550 5.1.1 No such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802
        data = envelope.content if isinstance(envelope.content, bytes) else str(envelope.content or "").encode()
        mail_from = envelope.mail_from or ""
        try:
            # The handler talks to the database and the backend: off the event loop.
            await asyncio.to_thread(self._handler.handle, mail_from, list(envelope.rcpt_tos), data)
        except Exception:  # noqa: BLE001 - handle() never raises, but the server must outlive anything
            log.exception("inbound message failed")
        return "250 OK"


def make_controller(handler: InboundHandler, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT) -> Controller:
    """A not yet started Controller; `.start()` runs it in a thread, `.stop()` ends it."""
    kwargs: dict[str, Any] = {"data_size_limit": DATA_SIZE_LIMIT}
    return Controller(_SmtpHandler(handler), hostname=host, port=port, **kwargs)
