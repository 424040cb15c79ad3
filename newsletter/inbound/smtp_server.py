"""The inbound SMTP server (aiosmtpd): receives mail for the list's addresses and hands it on.

It refuses what it will not read at the cheapest point: unknown recipients at RCPT, messages
over the size limit at DATA (552), connections over the limit, or over the limit for one client
address, at once (421, so the sending MTA retries later), and answers 451 when the database is
down, so no message is lost. A client silent for `inbound_idle_timeout` is hung up on, so idle
connections cannot hold the places for aiosmtpd's default 300 s.
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
    """Open connections, in all and per client address; touched only from the server's event
    loop thread, so no lock."""

    def __init__(self, limit: int, per_client: int) -> None:
        self.limit = limit
        self.per_client = per_client
        self.open = 0
        self.by_client: dict[str, int] = {}

    def enter(self, client: str) -> str | None:
        """Take a place for `client`; None if taken, else the 421 reply's reason."""
        if self.open >= self.limit:
            return "Too many connections"
        if self.by_client.get(client, 0) >= self.per_client:
            return "Too many connections from your address"
        self.open += 1
        self.by_client[client] = self.by_client.get(client, 0) + 1
        return None

    def leave(self, client: str) -> None:
        self.open -= 1
        left = self.by_client.pop(client, 1) - 1
        if left > 0:
            self.by_client[client] = left


class _LimitedSMTP(SMTP):
    def __init__(self, handler: Any, gate: _Gate, **kwargs: Any) -> None:
        super().__init__(handler, **kwargs)
        self._gate = gate
        self._client: str | None = None  # the peer address holding a place in the gate

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        starttls = self._original_transport is not None  # the same connection, now encrypted
        if not starttls and self._client is None:
            peer = transport.get_extra_info("peername")
            client = str(peer[0]) if isinstance(peer, tuple) and peer else ""
            refused = self._gate.enter(client)
            if refused is not None:
                log.warning("inbound: refused a connection from %s: %s (%d in all, %d per address)",
                            client, refused.lower(), self._gate.limit, self._gate.per_client)
                if isinstance(transport, asyncio.WriteTransport):
                    transport.write(f"421 4.7.0 {refused}, try again later\r\n".encode())
                transport.close()
                return
            self._client = client
        super().connection_made(transport)

    def connection_lost(self, error: Exception | None) -> None:
        if self._client is not None:
            self._gate.leave(self._client)
            self._client = None
        if self.session is None:  # refused in connection_made: nothing was set up
            return
        super().connection_lost(error)

    def busy(self, handling: bool) -> None:
        """While we handle a message the client waits on us and is not idle: no hang-up then, and
        the idle time counts again from our reply (aiosmtpd's timer, its private API)."""
        if handling:
            if self._timeout_handle is not None:
                self._timeout_handle.cancel()
        elif self.transport is not None:
            self._reset_timeout()


class _SmtpHandler:
    def __init__(self, handler: InboundHandler) -> None:
        self._handler = handler

    async def handle_RCPT(  # noqa: N802 - aiosmtpd's hook name
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        try:
            # Off the event loop: a subscribe+<slug> address is looked up in the database.
            accepted = await asyncio.to_thread(self._handler.accepts, address)
        except InboundUnavailable as exc:
            log.error("inbound: recipient deferred: %s", exc)
            return "451 4.3.0 Temporarily unable to check this address, try again later"
        if not accepted:
            return "550 5.1.1 No such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802
        data = envelope.content if isinstance(envelope.content, bytes) else str(envelope.content or "").encode()
        mail_from = envelope.mail_from or ""
        limited = server if isinstance(server, _LimitedSMTP) else None
        if limited is not None:
            limited.busy(True)
        try:
            # The handler talks to the database and the backend: off the event loop.
            await asyncio.to_thread(self._handler.handle, mail_from, list(envelope.rcpt_tos), data)
        except InboundUnavailable as exc:
            log.error("inbound: message deferred: %s", exc)
            return "451 4.3.0 Temporarily unable to process the message, try again later"
        except Exception:  # noqa: BLE001 - the server's boundary: a bug is logged, the message kept by the sender
            log.exception("inbound message failed (a bug); deferred so the sender keeps it")
            return "451 4.3.0 Temporarily unable to process the message, try again later"
        finally:
            if limited is not None:
                limited.busy(False)
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
        _Gate(settings.inbound_max_connections, settings.inbound_max_per_client),
        hostname=host,
        port=port,
        data_size_limit=settings.inbound_max_bytes,
        timeout=settings.inbound_idle_timeout,
    )
