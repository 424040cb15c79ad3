"""Mailgun webhooks: ``signature.signature`` (or, for a subaccount's domain, ``parent-signature``)
is the HMAC-SHA256 of ``timestamp + token`` with the webhook signing key, compared in constant
time. The signature covers only the timestamp and the token, not the event, so the token is
single-use (`apply.EventApplier`, keyed ``mailgun-token``) and a timestamp more than `MAX_SKEW`
away from now is stale. Mailgun retries a request whose answer it did not get with the same token
and event: that exact retry of an applied event is answered 2xx and changes nothing, even once
stale; any other reuse of a token, or a stale new one, is refused.

Events: ``failed`` with severity ``permanent`` -> bounced hard (a ``suppress-*`` reason: Mailgun
would not send, rejected), ``temporary`` -> deferred (Mailgun is still retrying, like a delayed
DSN: not counted); ``complained``; ``unsubscribed``; the rest are ignored.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
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


@dataclass(frozen=True)
class SignedRequest:
    event: dict[str, Any]  # event-data
    token: str
    fresh: bool  # signed within MAX_SKEW of now; a stale one is only good as the retry of an applied event


def verify(signing_key: str, body: bytes, now: datetime) -> SignedRequest:
    """The event data and the request's token, once the signature checks out."""
    data = json_body(body)
    signature = data.get("signature") if isinstance(data, dict) else None
    if not isinstance(signature, dict):
        raise ForgedEvent("no Mailgun signature")
    timestamp, token = (str(signature.get(k, "")) for k in ("timestamp", "token"))
    given = [str(signature.get(k, "")).lower() for k in ("signature", "parent-signature") if signature.get(k)]
    if not timestamp.isdigit() or not token or not given:
        raise ForgedEvent("the Mailgun signature is incomplete")
    expected = hmac.new(signing_key.encode(), (timestamp + token).encode(), hashlib.sha256).hexdigest().encode()
    # Both compared, always: which one matched is not told by the time taken.
    if not any([hmac.compare_digest(expected, value.encode()) for value in given]):
        raise ForgedEvent("the Mailgun signature does not verify")
    signed_at = epoch(timestamp)
    event = data.get("event-data")
    if not isinstance(event, dict):
        raise BadPayload("a Mailgun webhook without event-data")
    return SignedRequest(event, token, signed_at is not None and abs(now - signed_at) <= MAX_SKEW)


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
        "mailgun", event_type, _event_id(data), text_of(data.get("recipient"), 320),
        epoch(data.get("timestamp")), bounce_kind, reject,
        description=text_of(status.get("description") or reason),
        mta_response=text_of(f"{status.get('code', '')} {status.get('message', '')}".strip()),
        message_id=text_of(headers.get("message-id"), 998),
    )


def _event_id(data: dict[str, Any]) -> str:
    # Mailgun's event id is only unique within a day (django-anymail notes it too): with the
    # event's own time, a later event reusing the id is not taken for an applied one.
    key, moment = data.get("id"), text_of(data.get("timestamp"), 40)
    return event_id_of(f"{key}@{moment}" if isinstance(key, str) and key.strip() else None, data)
