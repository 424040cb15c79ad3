"""Postmark webhooks: Postmark signs nothing, so the owner puts HTTP Basic credentials in the
webhook's URL (``https://user:password@host/webhooks/postmark``) and sets the same
``NEWSLETTER_POSTMARK_WEBHOOK_AUTH=user:password``; they are compared in constant time.

RecordType ``Bounce`` by ``Type``: HardBounce and BadEmailAddress -> bounced hard; SoftBounce
(Postmark has stopped retrying) -> bounced soft; Transient and DnsError -> deferred (still
retrying); SpamNotification -> complained. RecordType ``SpamComplaint`` -> complained;
``SubscriptionChange`` with ``SuppressSending`` -> unsubscribed (by the reader's own request
only). The rest are ignored.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from typing import Any

from newsletter.inbound.providers.events import (
    BadPayload, BounceKind, EventType, ForgedEvent, ProviderEvent, event_id_of, iso, json_body, text_of,
)

BOUNCES: dict[str, tuple[EventType, BounceKind | None]] = {
    "HardBounce": ("bounced", "hard"), "BadEmailAddress": ("bounced", "hard"), "SoftBounce": ("bounced", "soft"),
    "Transient": ("deferred", None), "DnsError": ("deferred", None), "SpamNotification": ("complained", None),
    "SpamComplaint": ("complained", None), "AutoResponder": ("autoresponded", None),
    "ManuallyDeactivated": ("rejected", None), "Blocked": ("rejected", None), "DMARCPolicy": ("rejected", None),
}
SIMPLE: dict[str, EventType] = {"Delivery": "delivered", "Open": "opened", "Click": "clicked"}


def verify(credentials: str, authorization: str | None) -> None:
    """ForgedEvent unless the request's Basic credentials are ``credentials`` (user:password)."""
    scheme, _, encoded = (authorization or "").partition(" ")
    if scheme.lower() != "basic" or not encoded:
        raise ForgedEvent("no Basic credentials (put them in Postmark's webhook URL)")
    try:
        given = base64.b64decode(encoded.strip(), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ForgedEvent("the Basic credentials are not base64") from exc
    if not hmac.compare_digest(given, credentials.encode()):
        raise ForgedEvent("wrong Postmark webhook credentials")


def postmark_events(body: bytes) -> list[ProviderEvent]:
    data = json_body(body)
    if not isinstance(data, dict):
        raise BadPayload("a Postmark webhook is a JSON object")
    record = str(data.get("RecordType", ""))
    kind = str(data.get("Type", ""))
    event_type, bounce_kind = SIMPLE.get(record, "unknown"), None
    if record == "Bounce":
        event_type, bounce_kind = BOUNCES.get(kind, ("unknown", None))
    elif record == "SpamComplaint":
        event_type = "complained"
    elif record == "SubscriptionChange":
        event_type = "unsubscribed" if data.get("SuppressSending") is True and \
            data.get("SuppressionReason") == "ManualSuppression" else "subscribed"
    recipient = data.get("Email") or data.get("Recipient")
    # A bounce's ID is Postmark's; other records only have the message's id and a time.
    key = data.get("ID")
    event_id = event_id_of(f"{record}/{key}" if key is not None else None, data)
    return [ProviderEvent(
        "postmark", event_type, event_id, text_of(recipient, 320),
        iso(data.get("BouncedAt") or data.get("DeliveredAt") or data.get("ChangedAt") or data.get("ReceivedAt")),
        bounce_kind,
        reject_reason="blocked" if event_type == "rejected" else None,
        description=text_of(data.get("Description") or kind or record),
        mta_response=text_of(data.get("Details")),
        message_id=_message_id(data),
    )]


def _message_id(data: dict[str, Any]) -> str:
    # Postmark's MessageID is its own; ours is only there if the bounce's headers were included.
    for header in data.get("Headers") or []:
        if isinstance(header, dict) and str(header.get("Name", "")).lower() == "message-id":
            return text_of(header.get("Value"), 998)
    return ""
