"""Postmark webhooks: Postmark signs nothing, so the owner puts HTTP Basic credentials in the
webhook's URL (``https://user:password@host/webhooks/postmark``) and sets the same
``NEWSLETTER_POSTMARK_WEBHOOK_AUTH=user:password``; they are compared in constant time.

RecordType ``Bounce`` by ``Type``, as django-anymail maps them: HardBounce -> bounced hard;
SoftBounce (Postmark has stopped retrying) -> bounced soft; BadEmailAddress -> rejected, invalid
(acted on as a hard bounce); Transient, DnsError, OpenRelayTest -> deferred (still retrying);
SpamNotification -> complained; Unsubscribe -> unsubscribed; ManuallyDeactivated, Blocked,
DMARCPolicy -> rejected, blocked (Postmark's policy, not the reader's: not acted on).
RecordType ``SpamComplaint`` -> complained. ``SubscriptionChange`` with ``SuppressSending`` by its
``SuppressionReason``: HardBounce -> bounced hard, SpamComplaint -> complained,
ManualSuppression -> unsubscribed; without it -> subscribed (reactivated; not acted on). The rest
are ignored.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from typing import Any

from newsletter.inbound.providers.events import (
    BadPayload, BounceKind, EventType, ForgedEvent, ProviderEvent, RejectReason, event_id_of, iso, json_body, text_of,
)

Kind = tuple[EventType, BounceKind | None, RejectReason | None]
# Postmark's bounce types (its Bounce API's list), in anymail's vocabulary.
BOUNCES: dict[str, Kind] = {
    "HardBounce": ("bounced", "hard", "bounced"), "SoftBounce": ("bounced", "soft", "bounced"),
    "BadEmailAddress": ("rejected", None, "invalid"), "Transient": ("deferred", None, None),
    "DnsError": ("deferred", None, None), "OpenRelayTest": ("deferred", None, None),
    "SpamNotification": ("complained", None, "spam"), "SpamComplaint": ("complained", None, "spam"),
    "Unsubscribe": ("unsubscribed", None, "unsubscribed"), "Subscribe": ("subscribed", None, None),
    "AutoResponder": ("autoresponded", None, None), "AddressChange": ("autoresponded", None, None),
    "ChallengeVerification": ("autoresponded", None, None), "VirusNotification": ("bounced", None, "other"),
    "ManuallyDeactivated": ("rejected", None, "blocked"), "Blocked": ("rejected", None, "blocked"),
    "DMARCPolicy": ("rejected", None, "blocked"), "Unconfirmed": ("rejected", None, "other"),
    "SMTPApiError": ("failed", None, None), "TemplateRenderingFailed": ("failed", None, None),
    "InboundError": ("inbound_failed", None, None),
}
SUPPRESSIONS: dict[str, Kind] = {
    "HardBounce": ("bounced", "hard", "bounced"), "SpamComplaint": ("complained", None, "spam"),
    "ManualSuppression": ("unsubscribed", None, "unsubscribed"),
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
    event_type, bounce_kind, reason = SIMPLE.get(record, "unknown"), None, None
    if record == "Bounce":
        event_type, bounce_kind, reason = BOUNCES.get(kind, ("unknown", None, None))
    elif record == "SpamComplaint":
        event_type, reason = "complained", "spam"
    elif record == "SubscriptionChange":
        event_type, bounce_kind, reason = (
            SUPPRESSIONS.get(str(data.get("SuppressionReason")), ("unknown", None, None))
            if data.get("SuppressSending") is True else ("subscribed", None, None))
    recipient = data.get("Email") or data.get("Recipient")
    # A bounce's ID is Postmark's; other records only have the message's id and a time.
    key = data.get("ID")
    event_id = event_id_of(f"{record}/{key}" if key is not None else None, data)
    return [ProviderEvent(
        "postmark", event_type, event_id, text_of(recipient, 320),
        iso(data.get("BouncedAt") or data.get("DeliveredAt") or data.get("ChangedAt") or data.get("ReceivedAt")),
        bounce_kind,
        reject_reason=reason if event_type == "rejected" else None,
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
