"""DKIM signing (RFC 6376, relaxed/relaxed, rsa-sha256 and RFC 8463 ed25519-sha256), fast.

``DkimSigner.sign(message)`` signs finished bytes: it canonicalises the whole message, in C
regular expressions, once per key set. ``DkimSigner.prepare(segments, slots)`` is the hot path
for a ``MessageTemplate``: it canonicalises the constant segments once per issue, hashes the
body up to the first per-reader slot once and keeps that SHA-256 state; per reader only the
slot values are canonicalised, the precomputed canonical bytes are hashed after them (C speed),
and the few signed headers are canonicalised and signed.

Relaxed body canonicalisation is line by line (WSP runs become one SP, WSP before CRLF goes,
empty lines at the end go), so it can be applied piece by piece wherever every piece but the
last ends on a CRLF: the template's body slots sit on quoted-printable lines of their own that
end in a soft break ``=\\r\\n``. ``prepare`` checks this for the constant segments and
``PreparedDkim.sign`` for each slot value; a value that breaks it (none that ``personalise``
makes) falls back to canonicalising the whole message, so every signature is right.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa

from newsletter.config import Settings
from newsletter.mail.dkim_keys import DkimKeyError, SigningKey, check_domain, load_keys

SIGNED_HEADERS = (
    "from", "to", "subject", "date", "message-id", "mime-version", "content-type",
    "list-unsubscribe", "list-unsubscribe-post",
)
_CRLF = b"\r\n"
_TRAILING_WSP = re.compile(rb"[\t ]+\r\n")
_WSP = re.compile(rb"[\t ]+")
_UNFOLD = re.compile(rb"\r?\n")
_FIELD_START = re.compile(rb"\r\n(?![\t ])")
_PLACEHOLDER = re.compile(rb"\x00(\d+)\x00")
_PKCS1 = padding.PKCS1v15()
_SHA256 = hashes.SHA256()


def relaxed_lines(data: bytes) -> bytes:
    """Relaxed body canonicalisation of whole lines, without the end-of-body rule."""
    return _WSP.sub(b" ", _TRAILING_WSP.sub(_CRLF, data))


def relaxed_body(body: bytes) -> bytes:
    """RFC 6376 3.4.4, as dkimpy does it: empty lines at the end go; a non-empty body ends CRLF."""
    data = relaxed_lines(body)
    while data.endswith(b"\r\n\r\n"):
        data = data[:-2]
    if not data.endswith(_CRLF):
        data += _CRLF
    return b"" if data == _CRLF else data


def relaxed_header(field: bytes) -> bytes:
    """One header field (``Name: value``, folded or not, no final CRLF) in relaxed form + CRLF."""
    name, _, value = field.partition(b":")
    return name.rstrip(b" \t").lower() + b":" + _WSP.sub(b" ", _UNFOLD.sub(b"", value)).strip(b" \t") + _CRLF


def split_fields(block: bytes) -> list[tuple[bytes, bytes]]:
    """A header block (fields ending CRLF) as [(lowercase name, field without final CRLF)]."""
    fields = []
    for field in _FIELD_START.split(block):
        if field.strip():
            fields.append((field.partition(b":")[0].strip(b" \t").lower(), field.removesuffix(_CRLF)))
    return fields


@dataclass(frozen=True, slots=True)
class _Key:
    key: rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey
    is_rsa: bool
    head: bytes  # the DKIM-Signature field up to "bh=", as sent
    canon_head: bytes  # the same in relaxed form


class DkimSigner:
    """Signs with each configured key (RSA and Ed25519 together: one signature each)."""

    def __init__(self, domain: str, keys: Sequence[SigningKey], headers: Sequence[str] = SIGNED_HEADERS) -> None:
        if not keys:
            raise DkimKeyError("a DKIM signer needs at least one key")
        self.domain = check_domain(domain)
        self.headers = tuple(h.lower() for h in headers)
        h = ":".join(self.headers)
        self._keys: list[_Key] = []
        for k in keys:
            algorithm = "rsa-sha256" if k.kind == "rsa" else "ed25519-sha256"
            tags = f"v=1; a={algorithm}; c=relaxed/relaxed; d={self.domain}; s={k.selector};"
            head = f"DKIM-Signature: {tags}\r\n\th={h};\r\n\tbh=".encode("ascii")
            canon = f"dkim-signature:{tags} h={h}; bh=".encode("ascii")
            self._keys.append(_Key(k.key, isinstance(k.key, rsa.RSAPrivateKey), head, canon))

    @classmethod
    def from_settings(cls, settings: Settings) -> DkimSigner | None:
        """The signer the settings ask for, or None without ``dkim_keys``; DkimKeyError if a key is bad."""
        if not settings.dkim_keys.strip():
            return None
        return cls(settings.dkim_domain or settings.mail_domain, load_keys(settings.dkim_keys))

    def signature_fields(self, canon_headers: bytes, body_hash: bytes) -> bytes:
        """The DKIM-Signature fields (each ending CRLF) to put on top of the message."""
        bh = base64.b64encode(body_hash)
        out = []
        for k in self._keys:
            data = canon_headers + k.canon_head + bh + b"; b="
            if k.is_rsa:
                signature = k.key.sign(data, _PKCS1, _SHA256)  # type: ignore[call-arg, union-attr]
            else:
                signature = k.key.sign(hashlib.sha256(data).digest())  # type: ignore[call-arg]
            out.append(k.head + bh + b";\r\n\tb=" + base64.b64encode(signature) + _CRLF)
        return b"".join(out)

    def canonical_headers(self, fields: list[tuple[bytes, bytes]]) -> bytes:
        latest = {name: field for name, field in fields}  # the last instance of each name is signed
        return b"".join(relaxed_header(latest[n]) for n in self._names if n in latest)

    @property
    def _names(self) -> tuple[bytes, ...]:
        return tuple(h.encode("ascii") for h in self.headers)

    def sign(self, message: bytes) -> bytes:
        """The DKIM-Signature fields for finished bytes (CRLF line ends): the slow, general path."""
        head, sep, body = message.partition(b"\r\n\r\n")
        if not sep:  # no body at all
            head, body = message.removesuffix(_CRLF), b""
        fields = split_fields(head + _CRLF)
        return self.signature_fields(self.canonical_headers(fields), hashlib.sha256(relaxed_body(body)).digest())

    def prepare(self, segments: Sequence[bytes], slots: Sequence[int]) -> PreparedDkim:
        """Per-issue work for a template whose ``slots[i]`` goes between segments i and i+1."""
        return PreparedDkim(self, tuple(segments), tuple(int(s) for s in slots))


class PreparedDkim:
    """A signer bound to one template: constant canonical pieces and the body hash prefix."""

    __slots__ = ("signer", "_fast", "_headers", "_prefix", "_steps")

    def __init__(self, signer: DkimSigner, segments: tuple[bytes, ...], slots: tuple[int, ...]) -> None:
        self.signer = signer
        self._fast = False
        self._headers: list[bytes | list[bytes | int]] = []
        self._steps: list[bytes | int] = []
        self._prefix = hashlib.sha256()
        if any(b"\x00" in s for s in segments):  # placeholders below must not be mistaken for text
            return
        # Where the header ends: the first CRLF CRLF, inside one segment.
        at = next((i for i, s in enumerate(segments) if b"\r\n\r\n" in s), None)
        if at is None:
            return
        split = segments[at].index(b"\r\n\r\n")
        head = b"".join(s + b"\x00%d\x00" % slot for s, slot in zip(segments[:at], slots[:at], strict=False))
        head += segments[at][: split + 2]
        latest = {name: field for name, field in split_fields(head)}
        for name in signer._names:
            if name not in latest:
                continue
            field = latest[name]
            if b"\x00" not in field:
                self._headers.append(relaxed_header(field))
            else:
                parts: list[bytes | int] = []
                for i, piece in enumerate(_PLACEHOLDER.split(field)):
                    parts.append(int(piece) if i % 2 else piece)
                self._headers.append(parts)
        # The body: constant pieces (canonical now) and slots; all but the last end on a CRLF.
        pieces: list[bytes | int] = [segments[at][split + 4 :]]
        for slot, segment in zip(slots[at:], segments[at + 1 :], strict=False):
            pieces += [slot, segment]
        steps: list[bytes | int] = []
        last = len(pieces) - 1
        for i, piece in enumerate(pieces):
            if isinstance(piece, int):
                steps.append(piece)
                continue
            if i == last:
                canon = relaxed_body(piece)
                if not canon.strip(b"\r\n"):  # trailing empty lines could reach back into a slot
                    return
            elif piece and not piece.endswith(_CRLF):
                return
            else:
                canon = relaxed_lines(piece)
            if not steps or isinstance(steps[-1], int):
                steps.append(canon)
            else:
                steps[-1] += canon  # type: ignore[operator]
        while steps and isinstance(steps[0], bytes):
            self._prefix.update(steps.pop(0))  # type: ignore[arg-type]
        self._steps = steps
        self._fast = True

    def sign(self, values: Sequence[bytes], message: bytes) -> bytes:
        """The DKIM-Signature fields for one reader: ``values[slot]`` filled into ``message``."""
        if not self._fast:
            return self.signer.sign(message)
        body = self._prefix.copy()
        for step in self._steps:
            if isinstance(step, bytes):
                body.update(step)
                continue
            value = values[step]
            if value and not value.endswith(_CRLF):
                return self.signer.sign(message)
            body.update(_WSP.sub(b" ", _TRAILING_WSP.sub(_CRLF, value)))
        canon = []
        for header in self._headers:
            if isinstance(header, bytes):
                canon.append(header)
            else:
                canon.append(relaxed_header(b"".join(p if isinstance(p, bytes) else values[p] for p in header)))
        return self.signer.signature_fields(b"".join(canon), body.digest())
