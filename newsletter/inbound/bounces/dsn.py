"""Walking a report: RFC 3464 delivery-status blocks, RFC 5965 feedback reports, texts.

Everything here works on `email.message.Message` objects parsed with the compat32 policy
(the most forgiving one) and never raises on odd input.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from email.message import Message

ORIGINAL_TYPES = ("message/rfc822", "text/rfc822-headers", "message/rfc822-headers", "text/rfc822")
ADDRESS_RE = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
FIELD_RE = re.compile(r"^([A-Za-z][A-Za-z0-9-]*)[ \t]*:[ \t]*(.*)$")


@dataclass
class DsnRecipient:
    """One per-recipient block of a delivery-status part."""

    final: str = ""
    original: str = ""
    action: str = ""
    status: str = ""
    diagnostic: str = ""


@dataclass
class Parts:
    """The pieces of a report that matter here."""

    texts: list[str] = field(default_factory=list)  # human-readable parts, decoded
    status_blocks: list[str] = field(default_factory=list)  # delivery-status parts, raw
    feedback_blocks: list[str] = field(default_factory=list)  # feedback-report parts, raw
    originals: list[Message | str] = field(default_factory=list)  # returned message or its headers


def decode_part(part: Message) -> str:
    """The decoded text of a leaf part ("" when it cannot be had)."""
    try:
        payload = part.get_payload(decode=True)
    except Exception:  # noqa: BLE001 - broken transfer encodings
        payload = None
    if not isinstance(payload, bytes):
        raw = part.get_payload()
        return raw if isinstance(raw, str) else ""
    charset = part.get_content_charset() or "utf-8"
    try:
        return payload.decode(charset, errors="replace")
    except LookupError:
        return payload.decode("latin-1", errors="replace")


def _raw_of(part: Message) -> str:
    """The body of a structured part as text, whether the parser split it or not."""
    payload = part.get_payload()
    if isinstance(payload, list):
        chunks = []
        for block in payload:
            if isinstance(block, Message):
                chunks.append("\n".join(f"{k}: {v}" for k, v in block.items()))
        return "\n\n".join(chunks)
    return decode_part(part)


def collect(msg: Message) -> Parts:
    """Split a report into its human text, machine blocks and returned original."""
    parts = Parts()
    _walk(msg, parts, top=True)
    return parts


def _walk(part: Message, parts: Parts, top: bool = False) -> None:
    ctype = part.get_content_type()
    if ctype == "message/delivery-status" or ctype == "message/global-delivery-status":
        parts.status_blocks.append(_raw_of(part))
        return
    if ctype == "message/feedback-report":
        parts.feedback_blocks.append(_raw_of(part))
        return
    if ctype in ORIGINAL_TYPES and not top:
        payload = part.get_payload()
        if isinstance(payload, list) and payload and isinstance(payload[0], Message):
            parts.originals.append(payload[0])
        else:
            parts.originals.append(decode_part(part))
        return
    if part.is_multipart():
        payload = part.get_payload()
        if isinstance(payload, list):
            for sub in payload:
                if isinstance(sub, Message):
                    _walk(sub, parts)
        return
    if part.get_content_maintype() in ("text", "multipart") or top:  # multipart here: unparsable, keep text
        text = decode_part(part)
        if ctype == "text/html":
            text = re.sub(r"<[^>]+>", " ", text)
        parts.texts.append(text)


def fields_of(block: str) -> list[dict[str, str]]:
    """Header-style groups of a block, split at blank lines (continuation lines joined)."""
    groups: list[dict[str, str]] = []
    current: dict[str, str] = {}
    last = ""
    for line in block.replace("\r\n", "\n").split("\n"):
        if not line.strip():
            if current:
                groups.append(current)
            current, last = {}, ""
            continue
        if line[:1] in (" ", "\t") and last:
            current[last] += " " + line.strip()
            continue
        match = FIELD_RE.match(line)
        if match:
            last = match.group(1).lower()
            current.setdefault(last, match.group(2).strip())
    if current:
        groups.append(current)
    return groups


def address_in(value: str) -> str:
    """The address in a field like "rfc822; <a@b.example>" ("" if none)."""
    match = ADDRESS_RE.search(value.split(";", 1)[-1]) or ADDRESS_RE.search(value)
    return match.group(0).strip(".").lower() if match else ""


def dsn_recipients(blocks: list[str]) -> list[DsnRecipient]:
    """The per-recipient blocks of delivery-status parts."""
    found: list[DsnRecipient] = []
    for block in blocks:
        for group in fields_of(block):
            final = address_in(group.get("final-recipient", ""))
            original = address_in(group.get("original-recipient", "") or group.get("x-actual-recipient", ""))
            if not final and not original:
                continue
            found.append(
                DsnRecipient(
                    final=final,
                    original=original,
                    action=group.get("action", "").strip().lower(),
                    status=group.get("status", "").strip(),
                    diagnostic=group.get("diagnostic-code", ""),
                )
            )
    return found


def original_recipient(original: Message | str) -> str:
    """The To address of a returned message (or of its headers)."""
    if isinstance(original, Message):
        value = str(original.get("To", "") or "")
    else:
        groups = fields_of(original)
        value = groups[0].get("to", "") if groups else ""
    return address_in(value)
