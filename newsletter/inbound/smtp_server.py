"""The inbound SMTP server (aiosmtpd): receives mail for the list's addresses and hands it on.

It refuses what it will not read at the cheapest point: unknown recipients at RCPT, messages
over the size limit at DATA (552), connections over the limit at once (421, so the sending MTA
retries later), and answers 451 when the database is down, so no message is lost.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from newsletter.inbound.handler import InboundHandler, InboundUnavailable

log = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 2525


class _Gate:
    """Open connections; touched only from the server's event loop thread, so no lock."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.open = 0

    def enter(self) -> bool:
        if self.open >= self.limit:
            return False
        self.open += 1
        return True


class _LimitedSMTP(SMTP):
    def __init__(self, handler: Any, gate: _Gate, **kwargs: Any) -> None:
        super().__init__(handler, **kwargs)
        self._gate = gate
        self._counted = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        starttls = self._original_transport is not None  # the same connection, now encrypted
        if not starttls and not self._counted:
            if not self._gate.enter():
                log.warning("inbound: refused a connection, %d open is the limit", self._gate.limit)
                if isinstance(transport, asyncio.WriteTransport):
                    transport.write(b"421 4.7.0 Too many connections, try again later\r\n")
                transport.close()
                return
            self._counted = True
        super().connection_made(transport)

    def connection_lost(self, error: Exception | None) -> None:
        if self._counted:
            self._gate.open -= 1
            self._counted = False
        if self.session is None:  # refused in connection_made: nothing was set up
            return
        super().connection_lost(error)


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
        except InboundUnavailable as exc:
            log.error("inbound: message deferred: %s", exc)
            return "451 4.3.0 Temporarily unable to process the message, try again later"
        except Exception:  # noqa: BLE001 - the server's boundary: a bug is logged, the message kept by the sender
            log.exception("inbound message failed (a bug); deferred so the sender keeps it")
            return "451 4.3.0 Temporarily unable to process the message, try again later"
        return "250 OK"


class _Controller(Controller):
    def __init__(self, handler: InboundHandler, gate: _Gate, **kwargs: Any) -> None:
        super().__init__(_SmtpHandler(handler), **kwargs)
        self._gate = gate

    def factory(self) -> SMTP:
        return _LimitedSMTP(self.handler, self._gate, **self.SMTP_kwargs)


def make_controller(handler: InboundHandler, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT) -> Controller:
    """A not yet started Controller; `.start()` runs it in a thread, `.stop()` ends it."""
    settings = handler.settings
    return _Controller(
        handler,
        _Gate(settings.inbound_max_connections),
        hostname=host,
        port=port,
        data_size_limit=settings.inbound_max_bytes,
    )
