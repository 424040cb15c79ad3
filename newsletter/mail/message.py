"""Outgoing MIME messages: one compiled template per issue, personalised by joining bytes.

``MessageTemplate.compile`` builds the whole multipart/alternative message once (MIME
structure by the email package, headers by ``mailheaders``) and cuts its bytes into constant
segments and slots. ``personalise`` then
only encodes a handful of values (RFC 2047 name, quoted-printable lines, HTML escapes) and
joins bytes: no Jinja, no MJML, no email.message tree per reader.

Every slot value is stripped of control characters before it is encoded, so no value can
start a new header line; body slots each sit on a quoted-printable line of their own, so the
transfer encoding never splits one.
"""

from __future__ import annotations

import binascii
import enum
import functools
import html
import re
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr
from typing import TYPE_CHECKING

from newsletter.mail import headers as mh
from newsletter.config import Settings
from newsletter.mail.dkim_sign import DkimSigner
from newsletter.mail.signed_addresses import MESSAGE_ID, SignedAddresses
from newsletter.render.rendered import RenderedIssue
from newsletter.render.markers import GREETING_SLOT, READER_SLOT, UNSUBSCRIBE_SLOT, clean_text, clean_url, greeting_line

if TYPE_CHECKING:
    from newsletter.mail.dkim_sign import PreparedDkim

_CRLF = b"\r\n"
_SOFT_BREAK = b"=\r\n"
_QP_DOT = b"=2E"
_QP_LINE = 76
# Body markers: ASCII-only stand-ins that the email package copies verbatim.
_TEXT_BODY = "NLBODYTEXT5c1e"
_HTML_BODY = "NLBODYHTML5c1e"
# set_content() ends each marker body with a newline; the spliced bodies bring their own.
_BODY_MARKERS = re.compile(f"({_TEXT_BODY}|{_HTML_BODY})\r\n".encode())
_IN_BODY = re.compile(f"({re.escape(GREETING_SLOT)}|{re.escape(UNSUBSCRIBE_SLOT)}|{re.escape(READER_SLOT)})")


class Slot(enum.IntEnum):
    TO = 0
    DATE = 1
    MESSAGE_ID = 2
    LIST_UNSUBSCRIBE = 3
    TEXT_GREETING = 4
    TEXT_UNSUBSCRIBE = 5
    HTML_GREETING = 6
    HTML_UNSUBSCRIBE = 7
    HTML_READER_TOKEN = 8  # tracked issues only: the reader's token in click and pixel URLs


_TEXT_SLOTS = {GREETING_SLOT: Slot.TEXT_GREETING, UNSUBSCRIBE_SLOT: Slot.TEXT_UNSUBSCRIBE}
_HTML_SLOTS = {GREETING_SLOT: Slot.HTML_GREETING, UNSUBSCRIBE_SLOT: Slot.HTML_UNSUBSCRIBE,
               READER_SLOT: Slot.HTML_READER_TOKEN}


@dataclass(slots=True)  # not frozen: a frozen __init__ costs 2.4 us against 0.5, made per message
class Reader:
    """The per-reader values of one message."""

    email: str
    name: str
    unsubscribe_url: str  # https URL (RFC 8058 one-click POST target)
    unsubscribe_mailto: str  # "mailto:..." or "" for none
    tracking_token: str = ""  # a tracked issue's signed reader token (newsletter.issues.tracking)


def make_message_id(issue_id: int, subscriber_id: int, domain: str, *, secret_key: str = "",
                    delivery_id: int = 0) -> str:
    """Deterministic per (issue, subscriber): a resend after a crash carries the same id.

    With ``secret_key`` the id also carries the delivery's signed token, ``.d-<id>-<mac>``: a
    bounce or complaint that quotes the original is then believed about that delivery's reader,
    with VERP on or off (``inbound.reports``).
    """
    host = mh.msg_id_part(domain).strip("@") or "localhost"
    signed = f".d-{_message_ids(secret_key).token(int(delivery_id))}" if secret_key else ""
    return f"<issue-{int(issue_id)}.reader-{int(subscriber_id)}{signed}@{host}>"


@functools.lru_cache(maxsize=4)
def _message_ids(secret_key: str) -> SignedAddresses:
    # The key is derived once per secret, not once per message (a worker builds thousands a second).
    return SignedAddresses(secret_key, "", MESSAGE_ID)


def _mime_skeleton(text: str, html_body: str | None, *, markers: bool = False) -> tuple[bytes, bytes]:
    """(MIME header lines ending CRLF, body) of a text[/html] message, built by the email package.

    With ``markers`` the bodies are placeholders sent as-is and declared quoted-printable:
    the real QP bodies are spliced in by ``MessageTemplate.compile``.
    """
    msg = EmailMessage(policy=policy.SMTP)
    cte = "7bit" if markers else None
    msg.set_content(text, charset="utf-8", cte=cte)
    if html_body is not None:
        msg.add_alternative(html_body, subtype="html", charset="utf-8", cte=cte)
    for part in msg.walk():
        if part is not msg:
            del part["MIME-Version"]  # add_alternative copies it into the part; it belongs on top
        if markers and not part.is_multipart():
            part.replace_header("Content-Transfer-Encoding", "quoted-printable")
    head, _, body = msg.as_bytes().partition(_CRLF + _CRLF)
    return head + _CRLF, body


def _sender_headers(settings: Settings, subject: str) -> list[str]:
    name, addr = parseaddr(settings.from_address)
    return [f"From: {mh.mailbox(mh.display_name(name), mh.address(addr))}", mh.unstructured("Subject", subject)]


def _qp(data: bytes, *, soft_end: bool) -> bytes:
    """Quoted-printable with CRLF; with soft_end, end on a soft break so a slot starts a line."""
    encoded = binascii.b2a_qp(data, istext=True).replace(b"\n", _CRLF)
    if not soft_end or not encoded or encoded.endswith(_CRLF):
        return _no_leading_dots(encoded)
    head, newline, last = encoded.rpartition(_CRLF)
    if len(last) >= _QP_LINE:  # room for the "=" of the soft break, without cutting "=XX"
        cut = _QP_LINE - 1
        cut -= 1 if last[cut - 1 : cut] == b"=" else 2 if last[cut - 2 : cut - 1] == b"=" else 0
        last = last[:cut] + _SOFT_BREAK + last[cut:]
    return _no_leading_dots(head + newline + last + _SOFT_BREAK)  # a lone leading newline kept too


def _no_leading_dots(encoded: bytes) -> bytes:
    """Lines starting with "." encoded as "=2E": SMTP would dot-stuff them on every send, a
    scan and a copy of the whole message per reader (200 us of a 34 KB issue, measured in
    docs/benchmarks.md); encoded once here, the wire's check finds nothing to do."""
    if not encoded.startswith(b".") and b"\n." not in encoded:
        return encoded
    return _CRLF.join(_dot_free(line) for line in encoded.split(_CRLF))


def _dot_free(line: bytes) -> bytes:
    if not line.startswith(b"."):
        return line
    if len(line) + 2 <= _QP_LINE:
        return _QP_DOT + line[1:]
    return _QP_DOT + _SOFT_BREAK + _dot_free(line[1:])  # a full line: the dot gets one of its own


def _body_segments(body: str, slots: dict[str, Slot]) -> list[bytes | Slot]:
    """A body cut at its markers: QP-encoded constant bytes and the slots between them."""
    text = body.replace("\r\n", "\n").replace("\r", "\n")
    pieces = _IN_BODY.split(text)
    out: list[bytes | Slot] = []
    for i, piece in enumerate(pieces):
        if i % 2:
            out.append(slots[piece])
        else:
            out.append(_qp(piece.encode("utf-8"), soft_end=i + 1 < len(pieces)))
    return out


@dataclass(frozen=True, slots=True)
class MessageTemplate:
    """A message cut into constant byte segments; ``slots[i]`` goes between segment i and i+1."""

    segments: tuple[bytes, ...]
    slots: tuple[Slot, ...]
    dkim: PreparedDkim | None = None  # with a signer: DKIM-Signature fields go on top per reader
    tracked: bool = False  # has the reader-token slot: every reader needs a tracking token

    @classmethod
    def compile(
        cls, rendered: RenderedIssue, settings: Settings, *, subject_prefix: str = "", signer: DkimSigner | None = None
    ) -> MessageTemplate:
        list_id = mh.mailbox(mh.display_name(settings.list_name), settings.sender_email.replace("@", "."))
        lines = _sender_headers(settings, clean_text(subject_prefix + rendered.subject))
        lines += [f"List-Id: {list_id}", "List-Unsubscribe-Post: List-Unsubscribe=One-Click"]
        mime_head, body = _mime_skeleton(_TEXT_BODY, _HTML_BODY, markers=True)
        parts: list[bytes | Slot] = [("\r\n".join(lines) + "\r\nTo: ").encode("ascii"), Slot.TO]
        parts += [b"\r\nDate: ", Slot.DATE, b"\r\nMessage-ID: ", Slot.MESSAGE_ID]
        parts += [b"\r\nList-Unsubscribe: ", Slot.LIST_UNSUBSCRIBE, _CRLF + mime_head + _CRLF]
        for piece in _BODY_MARKERS.split(body):
            if piece == _TEXT_BODY.encode():
                parts += _body_segments(rendered.text, _TEXT_SLOTS)
            elif piece == _HTML_BODY.encode():
                parts += _body_segments(rendered.html, _HTML_SLOTS)
            else:
                parts.append(piece)
        return cls._from_parts(parts, signer)

    @classmethod
    def _from_parts(cls, parts: list[bytes | Slot], signer: DkimSigner | None = None) -> MessageTemplate:
        segments: list[bytes] = [b""]
        slots: list[Slot] = []
        for part in parts:
            if isinstance(part, Slot):
                slots.append(part)
                segments.append(b"")
            else:
                segments[-1] += part
        dkim = signer.prepare(segments, slots) if signer is not None else None
        return cls(tuple(segments), tuple(slots), dkim, Slot.HTML_READER_TOKEN in slots)

    def personalise(self, reader: Reader, message_id: str, *, date: datetime | None = None) -> bytes:
        """The finished message for one reader (CRLF line ends, ready for SMTP DATA)."""
        name = mh.display_name(reader.name)
        url = clean_url(reader.unsubscribe_url)
        if not url:
            raise ValueError("a reader needs an unsubscribe URL")
        mailto = clean_url(reader.unsubscribe_mailto)
        greeting = greeting_line(name)
        values = (
            mh.mailbox(name, mh.address(reader.email)).encode("ascii"),
            format_datetime(date).encode("ascii") if date else _date_now(int(time.time())),
            f"<{mh.msg_id_part(message_id)}>".encode("ascii"),
            (f"<{url}>, <{mailto}>" if mailto else f"<{url}>").encode("ascii"),
            _qp(greeting.encode("utf-8"), soft_end=True),
            _qp(url.encode("ascii"), soft_end=True),
            _qp(html.escape(greeting).encode("utf-8"), soft_end=True),
            _qp(html.escape(url, quote=True).encode("ascii"), soft_end=True),
            _reader_token(reader.tracking_token) if self.tracked else b"",
        )
        segments = self.segments
        out = [segments[0]]
        for slot, segment in zip(self.slots, segments[1:], strict=False):
            out.append(values[slot])
            out.append(segment)
        data = b"".join(out)
        return data if self.dkim is None else self.dkim.sign(values, data) + data


@functools.lru_cache(maxsize=2)
def _date_now(second: int) -> bytes:
    # A worker sends thousands a second: format the Date header once per second, not per reader.
    return format_datetime(datetime.fromtimestamp(second, timezone.utc)).encode("ascii")


def _reader_token(token: str) -> bytes:
    # Our own signed token, but checked: it stands in URLs unescaped.
    if not token or not token.replace("-", "").isalnum() or not token.isascii():
        raise ValueError("a tracked issue needs each reader's tracking token")
    return _qp(token.encode("ascii"), soft_end=True)


def build_simple_message(
    settings: Settings,
    *,
    to_email: str,
    to_name: str,
    subject: str,
    text: str,
    html: str | None,
    headers: dict[str, str] | None = None,
) -> tuple[str, bytes]:
    """A one-off message (e.g. the opt-in confirmation) as (message_id, bytes with CRLF ends).

    Names, subjects and header values are sanitised (control characters dropped), so a CR/LF
    in any of them can never add a header; a malformed extra header name raises ValueError.
    """
    message_id = make_msgid(domain=mh.msg_id_part(settings.mail_domain))
    lines = _sender_headers(settings, clean_text(subject))
    lines.append(f"To: {mh.mailbox(mh.display_name(to_name), mh.address(to_email))}")
    lines.append(f"Date: {format_datetime(datetime.now(timezone.utc))}")
    lines.append(f"Message-ID: {message_id}")
    taken = {"from", "to", "subject", "date", "message-id", "mime-version", "content-type"}
    for name, value in (headers or {}).items():
        if not mh.HEADER_NAME.match(name) or name.lower() in taken:
            raise ValueError(f"not a header name that may be added: {name!r}")
        lines.append(mh.unstructured(name, clean_text(value)))
    mime_head, body = _mime_skeleton(text, html)
    data = ("\r\n".join(lines) + "\r\n").encode("ascii") + mime_head + _CRLF + body
    # Transactional mail (confirmations, replies) is signed too, through the general path.
    signer = DkimSigner.from_settings(settings)
    return message_id, data if signer is None else signer.sign(data) + data
