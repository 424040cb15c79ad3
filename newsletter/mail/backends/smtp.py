"""SMTP backend: ``smtp_connections`` persistent connections in parallel, each pipelining (RFC 2920).

``send`` shares one batch among the connections, each a thread (socket I/O releases the GIL)
taking the next unsent message, so a slow or failing connection never holds up the others;
results come back in input order. Connections stay open across calls (NOOP-checked on reuse)
until ``close()``. With PIPELINING offered and ``smtp_pipelining`` on, a message costs one round
trip; otherwise each command waits for its reply (smtp_connection.py has both paths).
``send_reporting`` does the same, asking the caller's ``Progress`` before each message goes and
telling it each result from the connection that read the reply.

Failure model (see base.py): a refused MAIL/RCPT/DATA reply becomes that message's result via
``classify`` (a refused sender DEFERs); a 421 reply or a lost connection closes the connection,
the message is DEFERRED (``possibly_sent`` once its content went out, because the server may
have taken it) and the connection reconnects for the next one. A connection lost twice in a row,
or unable to reconnect, stops; when every connection has stopped, the rest of the batch is
DEFERRED unattempted. Only when no connection can be opened at all does ``send`` raise
BackendError, and then nothing of that call was sent.

Several relays (``smtp_hosts``, smtp_relays.py): each connection slot is bound to a relay, spread
round-robin over the relays in rotation at the start of every call. A relay that refuses a
connection, or loses one twice in a row, leaves the rotation and the slot moves to the least
used relay still in it, within the same call: it takes the batch's messages nobody has taken
yet (and those handed back untouched), so they go through another relay instead of being
DEFERRED, and none goes twice. The message in flight on the lost connection is attributed as
above (DEFERRED, ``possibly_sent`` once its content went out). A relay that answers a probe
again gets slots back at the next call. With every relay out, the call's BackendError names each.

Not thread-safe: call send() from one thread (the backend runs its own threads inside).
"""

from __future__ import annotations

import dataclasses
import logging
import ssl
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from typing import TYPE_CHECKING

from newsletter.mail.backends.base import BackendError, OutgoingMessage, Progress, SendResult
from newsletter.mail.backends.smtp_connection import Batch, SMTPConnection
from newsletter.mail.backends.smtp_relays import RelayPool, configured_relays
from newsletter.mail.backends.smtp_session import SessionOptions, open_session, tls_context

if TYPE_CHECKING:
    from newsletter.config import Settings

log = logging.getLogger(__name__)

# One connection lost on this many messages in a row: the server is failing, so that connection
# stops rather than hammer it (each loss may have cost a full timeout); with several relays, that
# relay leaves the rotation and the connection moves to another.
MAX_CONSECUTIVE_LOSSES = 2
# A connection the server answered less than this ago is used without a NOOP first; one that
# died meanwhile fails before any content is written, and its messages are handed back.
FRESH_SECONDS = 2.0


class SMTPBackend:
    def __init__(self, settings: Settings, *, ssl_context: ssl.SSLContext | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:  # fmt: skip
        self.tls = settings.smtp_tls
        self.timeout = settings.smtp_timeout
        self.pipelining = settings.smtp_pipelining
        # 0 is "auto": `newsletter worker` settles it (delivery/sizing.py); a one-off send needs one.
        self.connections = settings.smtp_connections or 1
        relays = configured_relays(settings)
        self._relays = RelayPool(relays, clock)  # the clock decides when a dead relay is probed again
        options = SessionOptions(
            host=relays[0].host,
            port=relays[0].port,
            tls=settings.smtp_tls,
            connect_timeout=settings.smtp_connect_timeout,
            timeout=settings.smtp_timeout,
            user=settings.smtp_user,
            password=settings.smtp_password,
        )
        # TLS, login and timeouts are the same for every relay.
        self._options = [dataclasses.replace(options, host=relay.host, port=relay.port) for relay in relays]
        self._ca_file = settings.smtp_ca_file
        # Injectable so tests (or a private CA) can trust a certificate; verified by default.
        self._ssl_context = ssl_context
        self._connections: list[SMTPConnection | None] = [None] * self.connections
        self._bound = [0] * self.connections  # the relay (index) each slot sends through
        self._opened_on = [0] * self.connections  # the relay of each slot's open connection
        self._executor: ThreadPoolExecutor | None = None
        if len(relays) > self.connections:
            log.warning("%d SMTP relays but %d connections: only %d relays share the load (raise "
                        "smtp_connections)", len(relays), self.connections, self.connections)  # fmt: skip

    @property
    def address(self) -> str:
        return ", ".join(options.address for options in self._options)

    def send(self, messages: Sequence[OutgoingMessage]) -> list[SendResult]:
        return self._send(Batch(messages))

    def send_reporting(self, messages: Sequence[OutgoingMessage], progress: Progress) -> list[SendResult]:
        """As ``send``, each result reported from the connection that read its reply."""
        return self._send(Batch(messages, progress))

    def _send(self, batch: Batch) -> list[SendResult]:
        messages = batch.messages
        if not messages:
            return []
        context = self._tls_context()  # raises BackendError for an unreadable CA file: nothing sent
        count = min(len(self._connections), len(messages))  # no idle connections for a small batch
        self._bind()
        if count == 1:
            outcomes = [self._work(0, batch, context)]  # no thread hand-off for one connection
        else:
            executor = self._threads()
            futures = [executor.submit(self._work, slot, batch, context) for slot in range(count)]
            wait(futures)
            outcomes = [future.result() for future in futures]
        failed = [outcome for outcome in outcomes if isinstance(outcome, BackendError)]
        if len(failed) == count:  # no connection opened, so no message was taken
            if len(self._options) == 1:
                raise failed[0]
            raise BackendError(f"no SMTP relay could be reached: {self._relays.failures()}")
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

        Returns the BackendError if no connection could be opened (nothing taken), the reason if
        it stopped with messages left, None when the batch ran dry.
        """
        opened = False
        losses = 0
        moves = 0
        while True:
            relay = self._bound[slot]
            try:
                conn = self._ready(slot, context)
            except BackendError as exc:
                if self._move(slot, relay, str(exc), moves):
                    moves += 1
                    continue
                if not opened:
                    return exc
                if len(self._options) > 1:
                    return f"not attempted: no SMTP relay left: {self._relays.failures()}"
                return f"not attempted: reconnecting failed: {exc}"
            opened = True
            finished = conn.finished
            done = conn.deliver(batch)
            if conn.finished > finished:
                self._relays.delivered(relay)
            if done:
                return None
            conn.discard()
            self._connections[slot] = None
            # A 421 is the server answering (a throttled domain), not the relay failing: reconnect.
            losses = 0 if conn.closed_by_421 else 1 if conn.finished > finished else losses + 1
            if not batch.pending():
                return None  # reconnect when there is something to send
            if losses >= MAX_CONSECUTIVE_LOSSES:
                why = f"the connection to {conn.address} was lost {losses} times in a row"
                if not self._move(slot, relay, why, moves):
                    return f"not attempted: {why}"
                moves += 1
                losses = 0

    def _bind(self) -> None:
        """Spread the slots round-robin over the relays in rotation (stable while that set is)."""
        live = self._relays.live()
        for slot in range(len(self._bound)):
            self._bound[slot] = live[slot % len(live)]

    def _move(self, slot: int, relay: int, why: str, moves: int) -> bool:
        """Take ``relay`` out of rotation; bind ``slot`` to the least used relay still in it, if any."""
        several = len(self._options) > 1
        if self._relays.failed(relay, why) and several:
            log.warning("SMTP relay %s out of rotation, probed again with back-off: %s", self._options[relay].address,
                        why)  # fmt: skip
        others = [i for i in self._relays.up() if i != relay]
        if not others or moves >= 2 * len(self._options):  # every relay tried (twice): the rest waits
            return False
        self._bound[slot] = min(others, key=lambda i: (self._bound.count(i), i))
        return True

    def _ready(self, slot: int, context: ssl.SSLContext | None) -> SMTPConnection:
        """The slot's open connection if it is to the slot's relay and answered a moment ago or
        still answers NOOP, else a new one."""
        conn = self._connections[slot]
        if conn is not None:
            opened_on = self._opened_on[slot]
            if opened_on == self._bound[slot]:
                if conn.answered_within(FRESH_SECONDS) or conn.alive():
                    return conn
                conn.discard()
            elif self._relays.is_live(opened_on):
                conn.quit()  # moved for balance (a relay came back): say goodbye to the one still up
            else:
                conn.discard()
            self._connections[slot] = None
        return self._open(slot, context)

    def _open(self, slot: int, context: ssl.SSLContext | None) -> SMTPConnection:
        relay = self._bound[slot]
        options = self._options[relay]
        client = open_session(options, context)
        if self._relays.answered(relay) and len(self._options) > 1:
            log.warning("SMTP relay %s answers again: back in rotation", options.address)
        conn = SMTPConnection(client, options.address, pipelining=self.pipelining)
        self._connections[slot] = conn
        self._opened_on[slot] = relay
        return conn

    def _tls_context(self) -> ssl.SSLContext | None:
        if self._ssl_context is None and self.tls != "none":
            self._ssl_context = tls_context(self._ca_file)  # once: loading the system CAs takes a while
        return self._ssl_context

    def _threads(self) -> ThreadPoolExecutor:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=len(self._connections), thread_name_prefix="smtp")
        return self._executor
