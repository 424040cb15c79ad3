"""SMTP backend: ``smtp_connections`` persistent connections in parallel, each pipelining (RFC 2920).

``send`` shares one batch among the connections, each a thread (socket I/O releases the GIL)
taking the next unsent message, so a slow or failing connection never holds up the others;
results come back in input order. Connections stay open across calls (NOOP-checked on reuse)
until ``close()``. With PIPELINING offered and ``smtp_pipelining`` on, a message costs one round
trip; otherwise each command waits for its reply (smtp_connection.py has both paths).

Failure model (see base.py): a refused MAIL/RCPT/DATA reply becomes that message's result via
``classify`` (a refused sender DEFERs); a 421 reply or a lost connection closes the connection,
the message is DEFERRED (``possibly_sent`` once its content went out, because the server may
have taken it) and the connection reconnects for the next one. A connection lost twice in a row,
or unable to reconnect, stops; when every connection has stopped, the rest of the batch is
DEFERRED unattempted. Only when no connection can be opened at all does ``send`` raise
BackendError, and then nothing of that call was sent.

Not thread-safe: call send() from one thread (the backend runs its own threads inside).
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from typing import TYPE_CHECKING

from newsletter.mail.backends.base import BackendError, OutgoingMessage, SendResult
from newsletter.mail.backends.smtp_connection import Batch, SMTPConnection
from newsletter.mail.backends.smtp_session import SessionOptions, open_session, tls_context

if TYPE_CHECKING:
    from newsletter.config import Settings

log = logging.getLogger(__name__)

# One connection lost on this many messages in a row: the server is failing, so that connection
# stops rather than hammer it (each loss may have cost a full timeout).
MAX_CONSECUTIVE_LOSSES = 2


class SMTPBackend:
    def __init__(self, settings: Settings, *, ssl_context: ssl.SSLContext | None = None) -> None:
        self.host = settings.smtp_host
        self.port = settings.smtp_port
        self.tls = settings.smtp_tls
        self.timeout = settings.smtp_timeout
        self.pipelining = settings.smtp_pipelining
        self.connections = settings.smtp_connections
        self._options = SessionOptions(
            host=settings.smtp_host,
            port=settings.smtp_port,
            tls=settings.smtp_tls,
            connect_timeout=settings.smtp_connect_timeout,
            timeout=settings.smtp_timeout,
            user=settings.smtp_user,
            password=settings.smtp_password,
        )
        self._ca_file = settings.smtp_ca_file
        # Injectable so tests (or a private CA) can trust a certificate; verified by default.
        self._ssl_context = ssl_context
        self._connections: list[SMTPConnection | None] = [None] * settings.smtp_connections
        self._executor: ThreadPoolExecutor | None = None

    @property
    def address(self) -> str:
        return self._options.address

    def send(self, messages: Sequence[OutgoingMessage]) -> list[SendResult]:
        if not messages:
            return []
        context = self._tls_context()  # raises BackendError for an unreadable CA file: nothing sent
        batch = Batch(messages)
        count = min(len(self._connections), len(messages))  # no idle connections for a small batch
        if count == 1:
            outcomes = [self._work(0, batch, context)]  # no thread hand-off for one connection
        else:
            executor = self._threads()
            futures = [executor.submit(self._work, slot, batch, context) for slot in range(count)]
            wait(futures)
            outcomes = [future.result() for future in futures]
        failed = [outcome for outcome in outcomes if isinstance(outcome, BackendError)]
        if len(failed) == count:
            raise failed[0]  # no connection opened, so no message was taken
        if failed:
            log.warning("%d of %d SMTP connections to %s could not be opened: %s", len(failed), count, self.address,
                        failed[0])  # fmt: skip
        reasons = [outcome for outcome in outcomes if isinstance(outcome, str)]
        return batch.finish(reasons[-1] if reasons else "not attempted")

    def close(self) -> None:
        """QUIT every connection (in parallel: a hung server costs one timeout, not one each)."""
        connections = [conn for conn in self._connections if conn is not None]
        self._connections = [None] * len(self._connections)
        if self._executor is not None and len(connections) > 1:
            wait([self._executor.submit(conn.quit) for conn in connections])
        else:
            for conn in connections:
                conn.quit()
        if self._executor is not None:
            self._executor.shutdown()
            self._executor = None

    # -- one connection's share of a batch ---------------------------------------------------

    def _work(self, slot: int, batch: Batch, context: ssl.SSLContext | None) -> BackendError | str | None:
        """Deliver from ``batch`` over connection ``slot`` until nothing is left.

        Returns the BackendError if the connection could not be opened (nothing taken), the
        reason if it stopped with messages left, None when the batch ran dry.
        """
        try:
            conn = self._ready(slot, context)
        except BackendError as exc:
            return exc
        losses = 0
        while True:
            finished = conn.finished
            if conn.deliver(batch):
                return None
            conn.discard()
            self._connections[slot] = None
            losses = 1 if conn.finished > finished else losses + 1
            if not batch.pending():
                return None  # reconnect when there is something to send
            if losses >= MAX_CONSECUTIVE_LOSSES:
                return f"not attempted: the connection to {self.address} was lost {losses} times in a row"
            try:
                conn = self._open(slot, context)
            except BackendError as exc:
                return f"not attempted: reconnecting failed: {exc}"

    def _ready(self, slot: int, context: ssl.SSLContext | None) -> SMTPConnection:
        """The slot's open connection if it still answers NOOP, else a new one."""
        conn = self._connections[slot]
        if conn is not None:
            if conn.alive():
                return conn
            conn.discard()
            self._connections[slot] = None
        return self._open(slot, context)

    def _open(self, slot: int, context: ssl.SSLContext | None) -> SMTPConnection:
        client = open_session(self._options, context)
        conn = SMTPConnection(client, self.address, pipelining=self.pipelining)
        self._connections[slot] = conn
        return conn

    def _tls_context(self) -> ssl.SSLContext | None:
        if self._ssl_context is None and self.tls != "none":
            self._ssl_context = tls_context(self._ca_file)  # once: loading the system CAs takes a while
        return self._ssl_context

    def _threads(self) -> ThreadPoolExecutor:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=len(self._connections), thread_name_prefix="smtp")
        return self._executor
