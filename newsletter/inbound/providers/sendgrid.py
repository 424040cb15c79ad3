"""SendGrid's Signed Event Webhook: an ECDSA signature (P-256, SHA-256, DER, base64) over
``timestamp + raw body``, in ``X-Twilio-Email-Event-Webhook-Signature`` and
``-Timestamp``, checked with the verification key SendGrid shows (base64 DER, the
``NEWSLETTER_SENDGRID_VERIFICATION_KEY`` setting); a timestamp more than `MAX_SKEW` away is refused.

A POST carries a batch of events: ``bounce`` (type ``bounce`` -> hard, ``blocked`` -> soft);
``dropped`` (SendGrid would not send) -> rejected, acted on only for a "Bounced Address" or
"Invalid" (Address) one; ``spamreport`` -> complained; ``unsubscribe`` and ``group_unsubscribe`` ->
unsubscribed; the rest are ignored.
"""

from __future__ import annotations

import base64
import binascii
from datetime import datetime, timedelta
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from newsletter.inbound.providers.events import (
    BadPayload, BounceKind, EventType, ForgedEvent, ProviderEvent, RejectReason, epoch, event_id_of, json_body,
    text_of,
)

MAX_SKEW = timedelta(minutes=15)
MAX_EVENTS = 5000  # SendGrid batches up to ~1,000 events (and the body limit bounds it anyway)
SIMPLE: dict[str, EventType] = {
    "processed": "queued", "deferred": "deferred", "delivered": "delivered", "open": "opened",
    "click": "clicked", "spamreport": "complained", "unsubscribe": "unsubscribed",
    "group_unsubscribe": "unsubscribed", "group_resubscribe": "subscribed",
}
# A drop's cause, from its ``type`` or else its ``reason`` (as django-anymail reads it), lower case.
DROPPED: dict[str, RejectReason] = {
    "bounced address": "bounced", "bounce": "bounced", "invalid": "invalid", "invalid address": "invalid",
    "spam reporting address": "spam", "unsubscribed address": "unsubscribed", "blocked": "blocked",
    "expired": "timed_out",
}


def load_key(value: str) -> ec.EllipticCurvePublicKey:
    """The verification key as SendGrid shows it (base64 DER, or PEM); ValueError if it is not one."""
    text = value.strip()
    try:
        key = (serialization.load_pem_public_key(text.encode()) if text.startswith("-----")
               else serialization.load_der_public_key(base64.b64decode(text, validate=True)))
    except (binascii.Error, ValueError) as exc:
        raise ValueError(f"not a SendGrid verification key (base64 DER): {exc}") from exc
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise ValueError("the SendGrid verification key is not an elliptic-curve key")
    return key


def verify(key: ec.EllipticCurvePublicKey, body: bytes, signature: str | None, timestamp: str | None,
           now: datetime) -> None:
    if not signature or not timestamp:
        raise ForgedEvent("no X-Twilio-Email-Event-Webhook-Signature / -Timestamp")
    try:
        der = base64.b64decode(signature.strip(), validate=True)
        key.verify(der, timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))
    except (binascii.Error, ValueError, InvalidSignature) as exc:
        raise ForgedEvent("the SendGrid signature does not verify") from exc
    signed_at = epoch(timestamp)
    if signed_at is None or abs(now - signed_at) > MAX_SKEW:
        raise ForgedEvent("the SendGrid timestamp is stale")


def sendgrid_events(body: bytes) -> list[ProviderEvent]:
    data = json_body(body)
    if not isinstance(data, list) or len(data) > MAX_EVENTS:
        raise BadPayload(f"a SendGrid webhook is a JSON array of at most {MAX_EVENTS} events")
    return [_event(item) for item in data if isinstance(item, dict)]


def _event(data: dict[str, Any]) -> ProviderEvent:
    name = str(data.get("event", ""))
    event_type: EventType = SIMPLE.get(name, "unknown")
    bounce_kind: BounceKind | None = None
    reject: RejectReason | None = None
    if name == "bounce":
        event_type, bounce_kind = "bounced", "soft" if data.get("type") == "blocked" else "hard"
    elif name == "dropped":
        cause = data.get("type") if isinstance(data.get("type"), str) else data.get("reason")
        event_type, reject = "rejected", DROPPED.get(str(cause or "").strip().lower(), "other")
    return ProviderEvent(
        "sendgrid", event_type, event_id_of(data.get("sg_event_id"), data), text_of(data.get("email"), 320),
        epoch(data.get("timestamp")), bounce_kind, reject,
        description=text_of(data.get("reason") or data.get("type") or name),
        mta_response=text_of(" ".join(text_of(data.get(k)) for k in ("status", "response") if data.get(k))),
        message_id=text_of(data.get("smtp-id"), 998),
    )
