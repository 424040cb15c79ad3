"""Hard or soft: from a DSN status code, an SMTP reply code, or the wording of the bounce.

Policy (issue #6): a 5.x.x status is hard, except 5.2.2 (mailbox full), which is soft;
an SMTP reply 552 (storage exceeded) is soft; a 4.x.x status or 4xx reply is soft.
Without any code, wording decides ("mailbox full", "quota" -> soft; "user unknown" -> hard),
and a final failure with no clue at all counts as hard.
"""

from __future__ import annotations

import re

from newsletter.inbound.bounces.model import BounceClass

STATUS_RE = re.compile(r"(?<![\d.])([245])\.(\d{1,3})\.(\d{1,3})(?![\d.]*\d)")
# A reply code is three digits standing alone, followed by a space, '-' or a status code.
REPLY_RE = re.compile(r"(?<![\w.#:/-])([245][0-5]\d)(?=[ -]|$)(?![ -]?\d{2,}(?:[:/]|\s*\d))", re.MULTILINE)

# Wording that means the mailbox is full: soft whatever the code says.
FULL_WORDS = (
    "mailbox full", "mailbox is full", "mailfolder is full", "quota", "insufficient storage",
    "mailbox size limit", "exceeds allowed size", "exceeded storage", "storage allocation", "disk full",
    "exceeded the local limit", "mailbox exceeded",
)
# Wording of a temporary failure, used only when there is no code at all.
SOFT_WORDS = FULL_WORDS + (
    "too many messages", "try again later", "temporarily", "temporary failure", "greylist",
    "retry timeout exceeded", "retry time", "timeout exceeded", "for a long time", "too long",
)


def find_status(text: str) -> str:
    """The first DSN status code (x.y.z) in `text`, or ""."""
    match = STATUS_RE.search(text)
    return ".".join(match.groups()) if match else ""


def find_reply_code(text: str) -> str:
    """The first SMTP reply code in `text` (e.g. "550"), or ""."""
    for match in REPLY_RE.finditer(text):
        return match.group(1)
    return ""


def class_of(status: str, reply_code: str = "", text: str = "") -> BounceClass:
    """Hard or soft for one failed recipient."""
    lowered = " ".join(text.lower().split())
    if status.startswith("5.2.2") or reply_code == "552" or any(word in lowered for word in FULL_WORDS):
        return "soft"
    if status[:1] == "5":
        return "hard"
    if status[:1] == "4":
        return "soft"
    if reply_code[:1] == "5":
        return "hard"
    if reply_code[:1] == "4":
        return "soft"
    if any(word in lowered for word in SOFT_WORDS):
        return "soft"
    return "hard"


def reason_of(status: str, reply_code: str, text: str) -> str:
    """A short human reason: the first line of the diagnostic, trimmed."""
    lowered = " ".join(text.lower().split())
    if status.startswith("5.2.2") or reply_code == "552" or any(word in lowered for word in FULL_WORDS):
        return "mailbox full"
    for word in ("user unknown", "unknown user", "no such user", "does not exist"):
        if word in lowered:
            return "user unknown"
    line = " ".join(text.split())
    return line[:200]
