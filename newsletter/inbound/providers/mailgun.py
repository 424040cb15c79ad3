"""Mailgun webhooks: ``signature.signature`` is the HMAC-SHA256 of ``timestamp + token`` with the
webhook signing key, compared in constant time; a timestamp more than `MAX_SKEW` away from now is
refused, and so is a token used before (`apply.EventApplier`, keyed ``mailgun-token``).

Events: ``failed`` with severity ``permanent`` -> bounced hard (a ``suppress-*`` reason: Mailgun
would not send, rejected), ``temporary`` -> deferred (Mailgun is still retrying, like a delayed
DSN: not counted); ``complained``; ``unsubscribed``; the rest are ignored.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime, timedelta
from typing import Any

from newsletter.inbound.providers.events import (
    BadPayload, BounceKind, EventType, ForgedEvent, ProviderEvent, RejectReason, epoch, event_id_of, json_body, obj, text_of,
)

MAX_SKEW = timedelta(minutes=15)
TOKEN_PROVIDER = "mailgun-token"
SUPPRESSED: dict[str, RejectReason] = {
    "suppress-bounce": "bounced", "suppress-complaint": "spam", "suppress-unsubscribe": "unsubscribed",
}
SIMPLE: dict[str, EventType] = {
    "accepted": "queued", "delivered": "delivered", "opened": "opened", "clicked": "clicked",
    "complained": "complained", "unsubscribed": "unsubscribed", "rejected": "rejected",
}


def verify(signing_key: str, body: bytes, now: datetime) -> tuple[dict[str, Any], str]:
    """The event data and the request's token, once the signature and its age check out."""
    data = json_body(body)
    signature = data.get("signature") if isinstance(data, dict) else None
    if not isinstance(signature, dict):
        raise ForgedEvent("no Mailgun signature")
    timestamp, token, given = (str(signature.get(k, "")) for k in ("timestamp", "token", "signature"))
    if not timestamp.isdigit() or not token or not given:
        raise ForgedEvent("the Mailgun signature is incomplete")
    expected = hmac.new(signing_key.encode(), (timestamp + token).encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected.encode(), given.lower().encode()):
        raise ForgedEvent("the Mailgun signature does not verify")
    signed_at = epoch(timestamp)
    if signed_at is None or abs(now - signed_at) > MAX_SKEW:
        raise ForgedEvent("the Mailgun timestamp is stale")
    event = data.get("event-data")
    if not isinstance(event, dict):
        raise BadPayload("a Mailgun webhook without event-data")
    return event, token


def mailgun_event(data: dict[str, Any]) -> ProviderEvent:
    name = str(data.get("event", ""))
    status = obj(data, "delivery-status")
    headers = obj(obj(data, "message"), "headers")
    reason = text_of(data.get("reason"))
    event_type: EventType = SIMPLE.get(name, "unknown")
    bounce_kind: BounceKind | None = None
    reject: RejectReason | None = None
    if name == "failed":
        if data.get("severity") != "permanent":
            event_type = "deferred"
        elif reason in SUPPRESSED:
            event_type, reject = "rejected", SUPPRESSED[reason]
        else:
            event_type, bounce_kind = "bounced", "hard"
    elif name == "rejected":
        reject = "other"
    return ProviderEvent(
        "mailgun", event_type, event_id_of(data.get("id"), data), text_of(data.get("recipient"), 320),
        epoch(data.get("timestamp")), bounce_kind, reject,
        description=text_of(status.get("description") or reason),
        mta_response=text_of(f"{status.get('code', '')} {status.get('message', '')}".strip()),
        message_id=text_of(headers.get("message-id"), 998),
    )
