"""The one normalized event every provider's payload becomes, in django-anymail's vocabulary,
and the errors a webhook answers with."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Literal

from newsletter.errors import InvalidInput, NotAllowed, NotFound, Unavailable

# anymail.signals.EventType's values, all of them (the inbound two are never made here).
EventType = Literal[
    "queued", "sent", "rejected", "failed", "bounced", "deferred", "delivered", "autoresponded",
    "opened", "clicked", "complained", "unsubscribed", "subscribed", "inbound", "inbound_failed", "unknown",
]
BounceKind = Literal["hard", "soft"]
# anymail's reject reasons: why the provider refused to send (or the mailbox refused for good).
RejectReason = Literal["invalid", "bounced", "timed_out", "blocked", "spam", "unsubscribed", "other"]
PROVIDERS = ("ses", "mailgun", "postmark", "sendgrid")
ID_MAX = 200  # provider event ids are short (SendGrid ~22, SNS 36); a longer one is hashed


@dataclass(frozen=True)
class ProviderEvent:
    provider: str
    event_type: EventType
    event_id: str
    recipient: str
    timestamp: datetime | None = None
    bounce_kind: BounceKind | None = None  # for "bounced"
    reject_reason: RejectReason | None = None  # for "rejected"
    description: str = ""
    mta_response: str = ""
    message_id: str = ""  # the Message-ID header of the mail it is about, when the provider reports it

    @property
    def detail(self) -> str:
        """What the reader's history says about it."""
        said = " ".join(part for part in (self.description, self.mta_response) if part)
        return f"{self.provider}: {said or self.event_type}"


@dataclass(frozen=True)
class OneTimeToken:
    """The single-use token a request was signed with (Mailgun's): refused when seen before, unless
    the request is the exact retry of the events it first carried; a stale one (``fresh`` False)
    is good only as such a retry."""

    provider: str  # the idempotency rows' key, e.g. "mailgun-token"
    value: str
    fresh: bool = True


class ProviderNotConfigured(NotFound):
    """The provider's webhook is off: its secret (or SNS topic) is not set."""


class ForgedEvent(NotAllowed):
    """The payload failed the provider's verification: nothing is read from it."""


class BadPayload(InvalidInput):
    """A verified request whose body is not what the provider documents."""


class ProviderUnavailable(Unavailable):
    """The database (or the SNS certificate host) failed: the provider should retry."""


def event_id_of(value: Any, *fallback: Any) -> str:
    """The provider's id for an event; without one, a digest of what identifies it, so a replay
    of the same payload still has the same id."""
    if isinstance(value, (str, int)) and str(value).strip():
        text = str(value).strip()
        return text if len(text) <= ID_MAX else "sha256:" + hashlib.sha256(text.encode()).hexdigest()
    blob = json.dumps(fallback, sort_keys=True, default=str).encode()
    return "sha256:" + hashlib.sha256(blob).hexdigest()


def text_of(value: Any, limit: int = 500) -> str:
    """A field from outside as one bounded line (anything not a string or a number is dropped)."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        return ""
    return " ".join(str(value).split())[:limit]


def obj(data: dict[str, Any], name: str) -> dict[str, Any]:
    """A nested object from outside, or an empty one if it is missing or not an object."""
    value = data.get(name)
    return value if isinstance(value, dict) else {}


def epoch(value: Any) -> datetime | None:
    try:
        return datetime.fromtimestamp(float(value), timezone.utc)
    except (TypeError, ValueError, OverflowError, OSError):
        return None


def iso(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def json_body(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (UnicodeDecodeError, ValueError) as exc:
        raise BadPayload(f"the body is not JSON: {exc}") from exc
