"""One open SMTP connection delivering messages from a shared Batch, plainly or pipelined (RFC 2920).

Pipelined, each write carries the previous message's content and the next message's MAIL, RCPT
and DATA (RFC 2920 lets content open a command group), so a message costs one round trip. The
replies then come back in order: previous end-of-data, MAIL, RCPT, DATA.

Failure attribution, the same on both paths: a refusal is the result of the message it answers
(only the first one: after a refused MAIL or RCPT the DATA reply is the expected 503/554); a 421
or a lost connection ends the connection, the message whose reply was awaited is DEFERRED
(``possibly_sent`` once its content went out) and a pipelined message whose replies were not due
yet is handed back to the batch, untouched, for this or another connection to send.
"""

from __future__ import annotations

import contextlib
import enum
import smtplib
import threading
import time
from collections.abc import Sequence

from newsletter.mail.backends.base import OutgoingMessage, Progress, SendResult, SendStatus, classify
from newsletter.mail.backends.smtp_wire import (
    DATA,
    NOOP,
    RSET,
    ConnectionLost,
    Envelope,
    Reply,
    describe,
    frame,
    read_reply,
    screen,
)


class Batch:
    """The messages of one send() call, shared by the connections: who sends what, and the results."""

    def __init__(self, messages: Sequence[OutgoingMessage], progress: Progress | None = None) -> None:
        self.messages = messages
        self.results: list[SendResult | None] = [None] * len(messages)
        self._progress = progress
        self._next = 0
        self._handed_back: list[int] = []
        self._lock = threading.Lock()

    def take(self) -> int | None:
        """The index of a message nobody has taken yet, or None when there is none left.

        A message is admitted by the caller's ``progress`` once, when first taken (outside the
        lock: admitting may wait); one it refuses is skipped and stays unattempted.
        """
        while True:
            with self._lock:
                if self._handed_back:
                    return self._handed_back.pop()  # admitted when it was first taken
                if self._next >= len(self.messages):
                    return None
                index = self._next
                self._next += 1
            if self._progress is None or self._progress.admit(index):
                return index

    def hand_back(self, index: int) -> None:
        """A taken message that never reached the server: someone may take it again."""
        with self._lock:
            self._handed_back.append(index)

    def pending(self) -> bool:
        with self._lock:
            return bool(self._handed_back) or self._next < len(self.messages)

    def settle(self, index: int, result: SendResult) -> None:
        self.results[index] = result  # each index is settled once, by the connection that took it
        if self._progress is not None:
            self._progress.answered(index, result)

    def finish(self, reason: str) -> list[SendResult]:
        """Every result, in input order; messages no connection got to are DEFERRED with ``reason``."""
        return [r if r is not None else SendResult(SendStatus.DEFERRED, None, reason) for r in self.results]


class _Next(enum.Enum):
    CONTENT = "content"  # DATA got 354: the content goes next
    RESET = "reset"  # refused: RSET before the next MAIL
    LOST = "lost"  # the connection is unusable


class SMTPConnection:
    """An open session (greeted, TLS, logged in) whose socket this class reads and writes itself."""

    def __init__(self, client: smtplib.SMTP, address: str, *, pipelining: bool) -> None:
        if client.sock is None:
            raise ValueError("the smtplib client is not connected")
        if client.file is None:
            client.file = client.sock.makefile("rb")  # what smtplib's own getreply would do
        self._client = client  # kept for close(), which closes the file and the socket
        self._sock = client.sock
        self._file = client.file
        self.address = address
        self.pipelining = pipelining and client.has_extn("pipelining")
        self._smtputf8 = client.has_extn("smtputf8")
        self._8bitmime = client.has_extn("8bitmime")
        self._broken: ConnectionLost | None = None  # set once a write or read failed
        self.finished = 0  # transactions that ended with the connection still usable
        # The server ended the session with a 421 reply (RFC 5321 3.8), e.g. a provider throttling
        # one domain: an answer, not a failing relay, so the backend reconnects without counting a loss.
        self.closed_by_421 = False
        self._answered_at = time.monotonic()  # when the server last answered us

    def alive(self) -> bool:
        """Does it still answer NOOP? Servers drop idle connections between two send() calls."""
        self._write([NOOP])
        try:
            return self._read().code == 250
        except ConnectionLost:
            return False

    def quit(self) -> None:
        """Say QUIT politely and close."""
        self._write([b"QUIT\r\n"])
        with contextlib.suppress(ConnectionLost):
            self._read()  # the server went first if this fails; nothing left to tell it
        self.discard()

    def discard(self) -> None:
        """Close without a word (a broken connection would only time out on QUIT)."""
        with contextlib.suppress(OSError):
            self._client.close()

    def answered_within(self, seconds: float) -> bool:
        """Did the server answer a moment ago? Then it needs no NOOP before the next send: a
        worker calls send() once a claim, and a plug-in-style caller a window at a time; a NOOP
        each would be a round trip per call."""
        return self._broken is None and time.monotonic() - self._answered_at < seconds

    def deliver(self, batch: Batch) -> bool:
        """Send messages taken from ``batch`` until none is left (True) or this connection is lost."""
        done = self._pipelined(batch) if self.pipelining else self._plain(batch)
        if done:
            self._answered_at = time.monotonic()
        return done

    # -- the two paths ---------------------------------------------------------------------

    def _plain(self, batch: Batch) -> bool:
        while (taken := self._take(batch)) is not None:
            index, envelope = taken
            refused: SendResult | None = None
            for stage, command in (("MAIL", envelope.mail), ("RCPT", envelope.rcpt), ("DATA command", DATA)):
                self._write([command])
                try:
                    reply = self._read()
                except ConnectionLost as lost:
                    self._lost_awaiting(batch, index, stage, lost)
                    return False
                refused = _refusal(stage, reply)
                if refused is not None:
                    break
            if refused is None:
                message = batch.messages[index]
                self._write(frame(message.data, message.no_leading_dots))
                if not self._end_of_data(batch, index):
                    return False
                continue
            batch.settle(index, refused)
            if refused.code == 421:
                self.closed_by_421 = True
                return False
            if not self._reset():
                return False
            self.finished += 1
        return True

    def _pipelined(self, batch: Batch) -> bool:
        content: int | None = None  # the message whose DATA got 354: its content leads the next write
        reset = False
        while True:
            taken = self._take(batch)
            parts: list[bytes] = []
            if content is not None:
                message = batch.messages[content]
                parts += frame(message.data, message.no_leading_dots)
            if reset:
                parts.append(RSET)
            if taken is not None:
                parts += (taken[1].mail, taken[1].rcpt, DATA)
            if not parts:
                return True
            self._write(parts)
            if content is not None:
                usable = self._end_of_data(batch, content)
            else:
                usable = self._reset_reply() if reset else True
            if not usable:
                if taken is not None:
                    batch.hand_back(taken[0])  # its replies never came: the server has none of it
                return False
            content, reset = None, False
            if taken is None:
                continue  # the batch ran dry while that content was out; another look, then done
            step = self._envelope_replies(batch, taken[0])
            if step is _Next.LOST:
                return False
            if step is _Next.CONTENT:
                content = taken[0]
            else:
                reset = True

    # -- replies -----------------------------------------------------------------------------

    def _envelope_replies(self, batch: Batch, index: int) -> _Next:
        """Read the replies to one pipelined MAIL, RCPT, DATA."""
        refused: SendResult | None = None
        reply = Reply(0, "")
        for stage in ("MAIL", "RCPT", "DATA command"):
            try:
                reply = self._read()
            except ConnectionLost as lost:
                self._lost_awaiting(batch, index, stage, lost, refused)
                return _Next.LOST
            if refused is None:
                refused = _refusal(stage, reply)  # the first refusal only; what follows it is the expected 503
            if reply.code == 421:  # the server is closing the channel (RFC 5321 3.8): no more replies
                assert refused is not None
                batch.settle(index, refused)
                self.closed_by_421 = True
                return _Next.LOST
        if refused is None:
            return _Next.CONTENT
        batch.settle(index, refused)
        if reply.code == 354:  # DATA accepted despite the refusal: we can't end it safely, hang up
            return _Next.LOST
        self.finished += 1
        return _Next.RESET

    def _end_of_data(self, batch: Batch, index: int) -> bool:
        """Read the reply to a message's content; False if the connection is gone."""
        try:
            reply = self._read()
        except ConnectionLost as lost:
            batch.settle(index, self._lost("DATA", lost, possibly_sent=True))
            return False
        batch.settle(index, SendResult(classify(reply.code), reply.code, reply.text))
        if reply.code == 421:
            self.closed_by_421 = True
            return False
        self.finished += 1
        return True

    def _reset(self) -> bool:
        """RSET the failed transaction before the next MAIL; False if the connection is gone."""
        self._write([RSET])
        return self._reset_reply()

    def _reset_reply(self) -> bool:
        try:
            return self._read().code == 250
        except ConnectionLost:
            return False

    # -- plumbing ----------------------------------------------------------------------------

    def _take(self, batch: Batch) -> tuple[int, Envelope] | None:
        """The next message to put on the wire; those that can't go are settled on the way."""
        while (index := batch.take()) is not None:
            checked = screen(
                batch.messages[index], smtputf8=self._smtputf8, eightbitmime=self._8bitmime, address=self.address
            )
            if isinstance(checked, Envelope):
                return index, checked
            batch.settle(index, checked)
        return None

    def _write(self, parts: list[bytes]) -> None:
        """Write in one call; a failure surfaces at the next read, which is where it is charged."""
        if self._broken is not None:
            return
        try:
            self._sock.sendall(b"".join(parts))
        except OSError as exc:
            lost = ConnectionLost(describe(exc))
            lost.__cause__ = exc
            self._broken = lost

    def _read(self) -> Reply:
        if self._broken is not None:
            raise self._broken
        try:
            return read_reply(self._file)
        except ConnectionLost as lost:
            self._broken = lost
            raise

    def _lost_awaiting(self, batch: Batch, index: int, stage: str, lost: ConnectionLost,
                       refused: SendResult | None = None) -> None:
        """The connection was lost awaiting ``stage``'s reply. Before MAIL's reply the server took
        nothing of the message: it is handed back for another connection to send now. Later, it
        is settled: its refusal if it had one, else deferred."""
        if stage == "MAIL":
            batch.hand_back(index)
        else:
            batch.settle(index, refused if refused is not None else self._lost(stage, lost))

    def _lost(self, stage: str, lost: ConnectionLost, *, possibly_sent: bool = False) -> SendResult:
        why = f"connection to {self.address} lost during {stage}: {lost}"
        return SendResult(SendStatus.DEFERRED, None, why, possibly_sent=possibly_sent)


def _refusal(stage: str, reply: Reply) -> SendResult | None:
    """The result of a refused command, or None if the reply lets the transaction go on."""
    if stage == "MAIL":
        # A refused sender is our configuration, not the reader's address: defer, never bounce.
        return None if reply.code == 250 else SendResult(SendStatus.DEFERRED, reply.code, reply.text)
    accepted = (250, 251) if stage == "RCPT" else (354,)
    return None if reply.code in accepted else SendResult(classify(reply.code), reply.code, reply.text)
