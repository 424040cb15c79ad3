"""`newsletter inbound --imap URL`: poll a mailbox for the list's mail instead of receiving SMTP.

For operators who cannot run an MX or relay: the list's addresses are delivered to an ordinary
mailbox, and each poll hands every message in it to the same `InboundHandler` the SMTP server
uses, then deletes it, so a message is handled once.
"""

from __future__ import annotations

import email
import imaplib
import logging
import socket
import ssl
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from email.policy import compat32
from email.utils import getaddresses, parseaddr
from urllib.parse import unquote, urlsplit

from newsletter.errors import InvalidInput, Unavailable
from newsletter.inbound.handler import InboundHandler, InboundUnavailable

log = logging.getLogger(__name__)

DEFAULT_PORTS = {"imap": 143, "imaps": 993}
TIMEOUT_SECONDS = 30.0
# Headers an MDA writes with the envelope recipient, in the order they are trusted.
ENVELOPE_HEADERS = ("Delivered-To", "X-Original-To", "Envelope-To")


class ImapError(Unavailable):
    """The mailbox could not be reached or read; the message names host and IMAP reply."""


@dataclass(frozen=True)
class ImapUrl:
    secure: bool  # imaps: TLS from the first byte; imap: STARTTLS when the server offers it
    host: str
    port: int
    user: str
    password: str
    folder: str = "INBOX"

    def __str__(self) -> str:
        # Never the password: this is what error messages and logs show.
        return f"{'imaps' if self.secure else 'imap'}://{self.user}@{self.host}:{self.port}/{self.folder}"


class InvalidImapUrl(InvalidInput):
    """The --imap URL is not imap[s]://user:password@host[:port]/Folder; the message says what is wrong."""


def parse_imap_url(url: str) -> ImapUrl:
    """`imap[s]://user:password@host[:port][/Folder]`; user and password are percent-decoded."""
    parts = urlsplit(url.strip())
    if parts.scheme not in DEFAULT_PORTS:
        raise InvalidImapUrl(f"IMAP URL must start with imap:// or imaps://, not {url.split(':', 1)[0]!r}")
    try:
        port = parts.port or DEFAULT_PORTS[parts.scheme]
    except ValueError as exc:  # urlsplit raises on a non-numeric or out-of-range port
        raise InvalidImapUrl(f"IMAP URL has an invalid port: {exc}") from exc
    if not parts.hostname or not parts.username or parts.password is None:
        raise InvalidImapUrl("IMAP URL must name user, password and host: imap[s]://user:password@host[:port]/Folder")
    return ImapUrl(
        secure=parts.scheme == "imaps", host=parts.hostname, port=port, user=unquote(parts.username),
        password=unquote(parts.password), folder=unquote(parts.path.lstrip("/")) or "INBOX",
    )


def _addresses(msg: email.message.Message, names: tuple[str, ...]) -> list[str]:
    values = [str(v) for name in names for v in (msg.get_all(name) or [])]
    found: list[str] = []
    for _, addr in getaddresses(values):
        if "@" in addr and addr.lower() not in (a.lower() for a in found):
            found.append(addr)
    return found


def envelope_of(data: bytes, accepts: Callable[[str], bool]) -> tuple[str, list[str]]:
    """(mail_from, rcpt_tos) as the SMTP envelope would have had them, read back from headers.

    The MDA's envelope headers are trusted first: mail Bcc'd or forwarded to us names us only
    there. A catch-all mailbox may put its own address there, so To/Cc are the fallback. If none
    is ours, the To addresses are passed anyway so the handler logs the message as ignored.
    """
    msg = email.message_from_bytes(data, policy=compat32)
    rcpts = [a for a in _addresses(msg, ENVELOPE_HEADERS) if accepts(a)]
    rcpts = rcpts or [a for a in _addresses(msg, ("To", "Cc")) if accepts(a)]
    rcpts = rcpts or _addresses(msg, ("To",))
    # Return-Path is the envelope sender the MDA saw; `<>` (a bounce) stays empty, and so does a
    # missing one, so a help@ reply never goes to an address the envelope did not name.
    return parseaddr(str(msg.get("Return-Path", "")))[1], rcpts


def _reply(data: object) -> str:
    """The server's text from an imaplib reply or exception, as one line."""
    items = data if isinstance(data, list) else [data]
    text = " ".join(i.decode(errors="replace") if isinstance(i, bytes) else str(i) for i in items if i is not None)
    return " ".join(text.split()) or "no reply"


def _error_text(exc: Exception) -> str:
    # imaplib puts the server's reply, as bytes, in the first argument.
    return _reply(exc.args[0] if exc.args else str(exc))


def _check(url: ImapUrl, what: str, result: tuple[str, Sequence[object]]) -> Sequence[object]:
    typ, data = result
    if typ != "OK":
        raise ImapError(f"IMAP {url.host}:{url.port}: {what} refused: {typ} {_reply(data)}")
    return data


def _connect(url: ImapUrl, timeout: float) -> imaplib.IMAP4:
    context = ssl.create_default_context()  # verifies the certificate and the host name
    stage = "greeting"  # what the server refused, for the error message
    try:
        if url.secure:
            imap: imaplib.IMAP4 = imaplib.IMAP4_SSL(url.host, url.port, ssl_context=context, timeout=timeout)
        else:
            imap = imaplib.IMAP4(url.host, url.port, timeout=timeout)
            # The password is about to cross the network: encrypt when the server offers it.
            if "STARTTLS" in imap.capabilities:
                stage = "STARTTLS"
                _check(url, stage, imap.starttls(ssl_context=context))
        stage = "login"
        _check(url, stage, imap.login(url.user, url.password))
    except imaplib.IMAP4.error as exc:  # a NO/BAD reply (wrong password), or not an IMAP server
        raise ImapError(f"IMAP {url.host}:{url.port}: {stage} refused: {_error_text(exc)}") from exc
    except ssl.SSLError as exc:
        raise ImapError(f"IMAP {url.host}:{url.port}: TLS failed: {exc.reason or exc}") from exc
    except socket.gaierror as exc:
        raise ImapError(f"IMAP {url.host}:{url.port}: unknown host: {exc.strerror}") from exc
    except OSError as exc:  # refused, unreachable, timed out
        raise ImapError(f"IMAP {url.host}:{url.port}: cannot connect: {exc.strerror or exc}") from exc
    return imap


def poll_once(
    url: ImapUrl, handler: InboundHandler, say: Callable[[str], None] = log.info, timeout: float = TIMEOUT_SECONDS
) -> int:
    """Hand every message in the folder to the handler, then delete it; returns how many were handled.

    A message whose handling raised (handle() should never) is flagged \\Flagged, left in the
    mailbox and said, so it is neither lost nor retried forever; later polls skip it. When the
    database is down, InboundUnavailable stops the poll and leaves the message for the next one.
    """
    imap = _connect(url, timeout)
    handled = 0
    try:
        try:
            quoted = '"' + url.folder.replace("\\", "\\\\").replace('"', '\\"') + '"'
            _check(url, f"SELECT {url.folder}", imap.select(quoted))
            limit = handler.settings.inbound_max_bytes
            # As the SMTP server refuses them: too big to be a command or a report, dropped.
            [big] = _check(url, "SEARCH", imap.uid("SEARCH", f"UNDELETED UNFLAGGED LARGER {limit}"))
            for uid in big.decode().split() if isinstance(big, bytes) else []:
                say(f"dropped: message UID {uid} in {url} is larger than {limit} bytes")
                _check(url, "STORE", imap.uid("STORE", uid, "+FLAGS", "(\\Deleted)"))
            [found] = _check(url, "SEARCH", imap.uid("SEARCH", f"UNDELETED UNFLAGGED SMALLER {limit + 1}"))
            for uid in found.decode().split() if isinstance(found, bytes) else []:
                data = _check(url, "FETCH", imap.uid("FETCH", uid, "(BODY.PEEK[])"))
                raw = next((part[1] for part in data if isinstance(part, tuple)), None)
                if not isinstance(raw, bytes):
                    continue  # expunged by another client meanwhile
                try:
                    mail_from, rcpts = envelope_of(raw, handler.accepts)
                    for line in handler.handle(mail_from, rcpts, raw):
                        say(line)
                except InboundUnavailable:
                    # The database is down: this and the rest stay as they are for the next poll.
                    imap.expunge()
                    raise
                except Exception as exc:  # noqa: BLE001 - keep the message and go on with the rest
                    log.exception("inbound IMAP message %s failed", uid)
                    say(f"error: message UID {uid} in {url} failed ({type(exc).__name__}: {exc}), kept flagged")
                    _check(url, "STORE", imap.uid("STORE", uid, "+FLAGS", "(\\Flagged)"))
                    continue
                # Marked at once: if we die before EXPUNGE, the next poll skips it (UNDELETED).
                _check(url, "STORE", imap.uid("STORE", uid, "+FLAGS", "(\\Deleted)"))
                handled += 1
            _check(url, "EXPUNGE", imap.expunge())
        except (imaplib.IMAP4.error, OSError) as exc:  # the connection broke mid-poll
            raise ImapError(f"IMAP {url.host}:{url.port}: connection lost: {_error_text(exc)}") from exc
    finally:
        try:
            imap.logout()
        except (imaplib.IMAP4.error, OSError):
            pass  # the session is gone either way
    return handled


def poll_forever(
    url: ImapUrl, handler: InboundHandler, interval: float, stop: threading.Event,
    say: Callable[[str], None] = log.info, error: Callable[[str], None] = log.error,
) -> None:
    """Poll every `interval` seconds until `stop` is set; a failed poll is said and retried."""
    while not stop.is_set():
        try:
            count = poll_once(url, handler, say)
            if count:
                say(f"handled {count} message{'s' if count != 1 else ''} from {url}")
        except (ImapError, InboundUnavailable) as exc:
            error(f"error: {exc} (retrying in {interval:g} s)")
        stop.wait(interval)
