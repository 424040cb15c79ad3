"""SMTP backend on smtplib: one lazily opened connection reused for every message until close().

Failure model (see base.py): a refused MAIL/RCPT/DATA reply becomes that message's result via
``classify``; a 421 reply or a lost connection closes the connection, the message is DEFERRED
(``possibly_sent`` once the DATA command went out, because the server may have taken it) and the
next message reconnects once. Only when the backend cannot connect at all does ``send`` raise
BackendError, and then nothing of that call was sent.

Not thread-safe: use one backend per worker thread.
"""

from __future__ import annotations

import contextlib
import smtplib
import ssl
from collections.abc import Sequence
from typing import TYPE_CHECKING

from newsletter.backends.base import BackendError, OutgoingMessage, SendResult, SendStatus, classify

if TYPE_CHECKING:
    from newsletter.config import Settings

# The connection lost on this many messages in a row: the server is failing, so defer the rest
# of the batch rather than hammer it (each loss may have cost a full timeout).
MAX_CONSECUTIVE_LOSSES = 2


class SMTPBackend:
    def __init__(self, settings: Settings, *, ssl_context: ssl.SSLContext | None = None) -> None:
        self.host = settings.smtp_host
        self.port = settings.smtp_port
        self.tls = settings.smtp_tls
        self.timeout = settings.smtp_timeout
        self._user = settings.smtp_user
        self._password = settings.smtp_password
        # Injectable so tests (or a private CA) can trust a certificate; verified by default.
        self._ssl_context = ssl_context
        self._conn: smtplib.SMTP | None = None

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def send(self, messages: Sequence[OutgoingMessage]) -> list[SendResult]:
        if not messages:
            return []
        conn: smtplib.SMTP | None = self._live_connection()  # raises BackendError: nothing of this call is sent
        results: list[SendResult] = []
        losses = 0
        for index, message in enumerate(messages):
            if conn is None:
                if losses >= MAX_CONSECUTIVE_LOSSES:
                    reason = f"not attempted: the connection to {self.address} was lost {losses} times in a row"
                    results.extend(_not_attempted(reason) for _ in messages[index:])
                    break
                try:
                    conn = self._open()
                except BackendError as exc:
                    reason = f"not attempted: reconnecting failed: {exc}"
                    results.extend(_not_attempted(reason) for _ in messages[index:])
                    break
            result, still_open = self._transact(conn, message)
            results.append(result)
            if still_open:
                losses = 0
            else:
                self._discard()
                conn = None
                losses += 1
        return results

    def close(self) -> None:
        """Say QUIT politely and drop the connection; the next send() reconnects."""
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            conn.quit()
        except (smtplib.SMTPException, OSError):
            pass  # the server went first; nothing left to tell it
        finally:
            conn.close()

    # -- connection --------------------------------------------------------------------------

    def _live_connection(self) -> smtplib.SMTP:
        """The open connection if it still answers NOOP (servers drop idle ones), else a new one."""
        if self._conn is not None:
            try:
                code, _ = self._conn.noop()
            except (smtplib.SMTPException, OSError):
                code = -1
            if code == 250:
                return self._conn
            self._discard()
        return self._open()

    def _open(self) -> smtplib.SMTP:
        context = self._ssl_context or ssl.create_default_context()
        try:
            if self.tls == "ssl":
                conn: smtplib.SMTP = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=context)
            else:
                conn = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        except (smtplib.SMTPException, OSError) as exc:
            raise BackendError(f"cannot connect to SMTP server {self.address}: {_describe(exc)}") from exc
        try:
            conn.ehlo_or_helo_if_needed()
            if self.tls == "starttls":
                if not conn.has_extn("starttls"):
                    raise BackendError(
                        f"SMTP server {self.address} does not offer STARTTLS (smtp_tls=starttls requires it)"
                    )
                conn.starttls(context=context)
                conn.ehlo()
            if self._user:
                conn.login(self._user, self._password)
        except BackendError:
            conn.close()
            raise
        except (smtplib.SMTPException, OSError) as exc:
            conn.close()
            raise BackendError(f"cannot start an SMTP session with {self.address}: {_describe(exc)}") from exc
        self._conn = conn
        return conn

    def _discard(self) -> None:
        """Forget a connection that is already broken (no QUIT: it would only time out)."""
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(OSError):
                conn.close()

    # -- one message -------------------------------------------------------------------------

    def _transact(self, conn: smtplib.SMTP, message: OutgoingMessage) -> tuple[SendResult, bool]:
        """MAIL, RCPT, DATA for one message. Returns the result and whether the connection is usable."""
        # A refused or malformed *sender* is our configuration, not the reader's address: it
        # defers (and alerts through retries) instead of bouncing and suppressing the reader.
        if not _plausible_address(message.sender):
            return SendResult(SendStatus.DEFERRED, None, f"invalid envelope sender {message.sender!r}"), True
        if not _plausible_address(message.recipient):
            return SendResult(SendStatus.BOUNCED, None, f"invalid envelope address {message.recipient!r}"), True
        options = _mail_options(conn, message)
        if options is None:
            why = f"{self.address} does not offer SMTPUTF8, needed for a non-ASCII address"
            return SendResult(SendStatus.BOUNCED, None, why), True
        stage = "MAIL"
        try:
            code, reply = conn.mail(message.sender, options)
            if code != 250:  # what smtplib calls SMTPSenderRefused
                result, usable = self._refused(conn, code, reply)
                return SendResult(SendStatus.DEFERRED, code, result.reply), usable
            stage = "RCPT"
            code, reply = conn.rcpt(message.recipient)
            if code not in (250, 251):
                return self._refused(conn, code, reply)  # what smtplib calls SMTPRecipientsRefused
            stage = "DATA"
            code, reply = conn.data(message.data)  # bytes go out as is (only dot-stuffed)
        except smtplib.SMTPDataError as exc:  # the DATA command itself was refused (no 354)
            return self._refused(conn, exc.smtp_code, exc.smtp_error)
        except ValueError as exc:  # smtplib won't put it on the wire (newline, unencodable address)
            result = SendResult(SendStatus.BOUNCED, None, f"invalid envelope: {exc}")
            return result, self._reset(conn)
        except (smtplib.SMTPServerDisconnected, OSError) as exc:  # dropped, reset or timed out
            why = f"connection to {self.address} lost during {stage}: {_describe(exc)}"
            return SendResult(SendStatus.DEFERRED, None, why, possibly_sent=stage == "DATA"), False
        if code != 250:
            return self._refused(conn, code, reply)
        return SendResult(SendStatus.SENT, code, _text(reply)), True

    def _refused(self, conn: smtplib.SMTP, code: int, reply: bytes | str) -> tuple[SendResult, bool]:
        result = SendResult(classify(code), code, _text(reply))
        if code == 421:  # the server is closing the channel (RFC 5321 3.8)
            return result, False
        return result, self._reset(conn)

    def _reset(self, conn: smtplib.SMTP) -> bool:
        """RSET the failed transaction before the next MAIL; False if the connection is gone."""
        try:
            code, _ = conn.rset()
        except (smtplib.SMTPException, OSError):
            return False
        return code == 250


def _plausible_address(address: str) -> bool:
    """One bare addr-spec. smtplib would silently send odd input to whatever it parses out."""
    return address.count("@") >= 1 and not any(
        ch.isspace() or ch in "<>,;" or ord(ch) < 32 or ord(ch) == 127 for ch in address
    )


def _mail_options(conn: smtplib.SMTP, message: OutgoingMessage) -> list[str] | None:
    """ESMTP MAIL parameters the message needs; None if it needs SMTPUTF8 the server lacks."""
    options: list[str] = []
    if not (message.sender.isascii() and message.recipient.isascii()):
        if not conn.has_extn("smtputf8"):
            return None
        options.append("SMTPUTF8")  # smtplib then encodes commands as UTF-8
    if not message.data.isascii() and conn.has_extn("8bitmime"):
        options.append("BODY=8BITMIME")
    return options


def _not_attempted(reason: str) -> SendResult:
    return SendResult(SendStatus.DEFERRED, None, reason)


def _text(reply: bytes | str) -> str:
    return reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply


def _describe(exc: BaseException) -> str:
    """A one-line reason: the server's reply for SMTP errors, else the OS/TLS error text."""
    if isinstance(exc, smtplib.SMTPResponseException):
        return f"{exc.smtp_code} {_text(exc.smtp_error)}"
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
