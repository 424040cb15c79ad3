"""Amazon SES notifications (inside a verified SNS message) as normalized events.

``Bounce``: one event per bounced recipient, ``bounceType`` Permanent -> hard, Transient and
Undetermined -> soft (SES has stopped retrying: the DSN equivalent is a final 4.x.x failure).
``Complaint``: one per complained recipient. The rest (Delivery, Send, Open, Click, ... of event
publishing, which names the type ``eventType``) are answered and ignored.
"""

from __future__ import annotations

import json
from typing import Any

from newsletter.inbound.providers.events import (
    BadPayload, EventType, ProviderEvent, event_id_of, iso, obj, text_of,
)
from newsletter.inbound.providers.sns import SnsMessage

IGNORED: dict[str, EventType] = {
    "Delivery": "delivered", "Send": "sent", "Open": "opened", "Click": "clicked", "Reject": "rejected",
    "DeliveryDelay": "deferred", "Rendering Failure": "failed", "Subscription": "subscribed",
}


def ses_events(message: SnsMessage) -> list[ProviderEvent]:
    try:
        data = json.loads(message.message)
    except ValueError as exc:
        raise BadPayload(f"the SNS Message is not an SES notification: {exc}") from exc
    if not isinstance(data, dict):
        raise BadPayload("the SNS Message is not an SES notification")
    kind = data.get("notificationType") or data.get("eventType")
    mail = obj(data, "mail")
    message_id = _message_id(mail)
    if kind == "Bounce":
        bounce = _object(data, "bounce")
        hard = bounce.get("bounceType") == "Permanent"
        return [
            ProviderEvent(
                "ses", "bounced", _id(message, item), text_of(item.get("emailAddress"), 320),
                iso(bounce.get("timestamp")), "hard" if hard else "soft",
                description=text_of(f"{bounce.get('bounceType')} {bounce.get('bounceSubType')}"),
                mta_response=text_of(f"{item.get('status', '')} {item.get('diagnosticCode', '')}"),
                message_id=message_id,
            )
            for item in _items(bounce, "bouncedRecipients")
        ]
    if kind == "Complaint":
        complaint = _object(data, "complaint")
        return [
            ProviderEvent(
                "ses", "complained", _id(message, item), text_of(item.get("emailAddress"), 320),
                iso(complaint.get("timestamp")),
                description=text_of(complaint.get("complaintFeedbackType")) or "abuse", message_id=message_id,
            )
            for item in _items(complaint, "complainedRecipients")
        ]
    event_type = IGNORED.get(str(kind), "unknown")
    recipients = mail.get("destination") if isinstance(mail.get("destination"), list) else []
    return [ProviderEvent("ses", event_type, event_id_of(message.message_id),
                          text_of(recipients[0], 320) if recipients else "", message_id=message_id)]


def _object(data: dict[str, Any], name: str) -> dict[str, Any]:
    value = data.get(name)
    if not isinstance(value, dict):
        raise BadPayload(f"an SES {name} notification without its {name} object")
    return value


def _items(data: dict[str, Any], name: str) -> list[dict[str, Any]]:
    value = data.get(name)
    if not isinstance(value, list):
        raise BadPayload(f"an SES notification without {name}")
    return [item for item in value if isinstance(item, dict)]


def _id(message: SnsMessage, item: dict[str, Any]) -> str:
    # One SNS message may name several recipients: each is its own event.
    return event_id_of(f"{message.message_id}/{text_of(item.get('emailAddress'), 320).lower()}")


def _message_id(mail: dict[str, Any]) -> str:
    """The Message-ID we sent (SES puts its own on the wire; the original is in the headers)."""
    common = mail.get("commonHeaders")
    if isinstance(common, dict) and isinstance(common.get("messageId"), str):
        return text_of(common["messageId"], 998)
    for header in mail.get("headers") or []:
        if isinstance(header, dict) and str(header.get("name", "")).lower() == "message-id":
            return text_of(header.get("value"), 998)
    return ""
