"""Our signed tokens in the original message a report carries: what makes a report believable.

A bounce or complaint names addresses, and anyone can write one. What a stranger cannot write
is one of our signed tokens, which only the mail we sent carries: the delivery's token in its
Message-ID (``issue-N.reader-M.d-<token>@``), its VERP envelope sender (``bounces+<token>@``, in
the original's Return-Path) or a confirmation's Reply-To (``confirm+<token>@``). Here they are
only found; ``inbound.reports`` checks their signatures.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email.message import Message
from typing import Literal

from newsletter.inbound.bounces.dsn import Parts
from newsletter.mail.signed_addresses import BOUNCES, CONFIRM, MESSAGE_ID

ProofKind = Literal["message-id", "bounces", "confirm"]
MAX_PROOFS = 10  # each costs an HMAC and a lookup: a report stuffed with tokens gets no more
_TOKEN = r"([0-9a-f]{1,16}-[a-z2-7]{16})@"
# The kinds are the prefixes of the SignedAddresses keys that sign them.
_PATTERNS: tuple[tuple[ProofKind, re.Pattern[str]], ...] = (
    ("message-id", re.compile(r"\bissue-\d{1,19}\.reader-\d{1,19}\.d-" + _TOKEN, re.I)),
    ("bounces", re.compile(rf"\b{BOUNCES}\+" + _TOKEN, re.I)),
    ("confirm", re.compile(rf"\b{CONFIRM}\+" + _TOKEN, re.I)),
)
assert {kind for kind, _ in _PATTERNS} == {MESSAGE_ID, BOUNCES, CONFIRM}


@dataclass(frozen=True)
class Proof:
    """A token found in the report, not yet checked: which key signs it, and the token."""

    kind: ProofKind
    token: str


def _headers_text(original: Message | str) -> str:
    if isinstance(original, Message):
        return "\n".join(f"{name}: {value}" for name, value in original.items())
    return original


def proofs_in(parts: Parts) -> tuple[Proof, ...]:
    """The tokens in the returned original (its headers) or, for a bounce that quotes the
    original inline, in the report's text; at most MAX_PROOFS, each once."""
    found: list[Proof] = []
    for text in [_headers_text(o) for o in parts.originals] + parts.texts:
        for kind, pattern in _PATTERNS:
            for match in pattern.finditer(text):
                proof = Proof(kind, match.group(1).lower())
                if proof not in found:
                    found.append(proof)
                if len(found) >= MAX_PROOFS:
                    return tuple(found)
    return tuple(found)
