"""Test keys and signers for the providers' samples, and the DSN/ARF equivalents of an event.

SNS: a CA-less self-signed certificate made here, served by `FakeSnsHttp` for the sample's
amazonaws URL (no internet). SendGrid: a P-256 key made here. Mailgun: a test signing key.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID
from sqlalchemy import select

from newsletter.inbound.providers.sns import string_to_sign
from newsletter.readers.models import Subscriber, SubscriberEvent
from newsletter.services import Services

SAMPLES = Path(__file__).parent / "samples"
TOPIC = "arn:aws:sns:us-west-2:123456789012:MyTopic"
CERT_URL = "https://sns.us-west-2.amazonaws.com/SimpleNotificationService-f3ecfb7224c7233fe7bb5f59f96de52f.pem"
MAILGUN_KEY = "key-test-mailgun-signing"
POSTMARK_AUTH = "postmark:s3cret-pass"


def sample(name: str) -> Any:
    return json.loads((SAMPLES / name).read_text())


def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def self_signed(key: rsa.RSAPrivateKey) -> bytes:
    """A self-signed certificate, no CA: only its public key matters to SNS verification."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.amazonaws.com")])
    start = datetime(2020, 1, 1, tzinfo=timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(start).not_valid_after(start + timedelta(days=3650))
            .sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM)


@dataclass
class FakeSnsHttp:
    """Serves our certificate for the amazonaws URL; records what was fetched and confirmed."""

    certificates: dict[str, bytes]
    fetched: list[str] = field(default_factory=list)
    confirmed: list[str] = field(default_factory=list)

    def fetch_certificate(self, url: str) -> bytes:
        self.fetched.append(url)
        return self.certificates[url]

    def confirm(self, url: str) -> None:
        self.confirmed.append(url)


def sign_sns(message: dict[str, Any], key: rsa.RSAPrivateKey, version: str = "1") -> dict[str, Any]:
    signed = dict(message, SignatureVersion=version)
    algorithm = hashes.SHA1() if version == "1" else hashes.SHA256()
    signed["Signature"] = base64.b64encode(
        key.sign(string_to_sign(signed), padding.PKCS1v15(), algorithm)).decode()
    return signed


def sns_notification(ses_message: dict[str, Any], key: rsa.RSAPrivateKey, version: str = "1",
                     message_id: str = "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324") -> bytes:
    """The documented SNS envelope carrying an SES notification, signed with ``key``."""
    envelope = sample("sns_notification.json")
    envelope.pop("Subject")  # SES notifications have none
    envelope.update(Message=json.dumps(ses_message), MessageId=message_id)
    return json.dumps(sign_sns(envelope, key, version)).encode()


def ses_sample(name: str, recipient: str, message_id: str = "") -> dict[str, Any]:
    """An SES sample about ``recipient`` (and, given, our Message-ID in its headers)."""
    data = copy.deepcopy(sample(name))
    for group in ("bouncedRecipients", "complainedRecipients"):
        for item in data.get(data["notificationType"].lower(), {}).get(group, []):
            item["emailAddress"] = recipient
    if message_id:
        data["mail"]["commonHeaders"]["messageId"] = message_id
        for header in data["mail"]["headers"]:
            if header["name"] == "Message-ID":
                header["value"] = message_id
    return data


def mailgun_body(name: str, recipient: str, now: datetime, *, token: str = "tok-1", key: str = MAILGUN_KEY,
                 message_id: str = "", event_id: str | None = None) -> bytes:
    data = copy.deepcopy(sample(name))
    event = data["event-data"]
    event["recipient"] = recipient
    event["message"]["headers"]["to"] = recipient
    if message_id:
        event["message"]["headers"]["message-id"] = message_id.strip("<>")
    if event_id is not None:
        event["id"] = event_id
    timestamp = str(int(now.timestamp()))
    signature = hmac.new(key.encode(), (timestamp + token).encode(), hashlib.sha256).hexdigest()
    data["signature"] = {"timestamp": timestamp, "token": token, "signature": signature}
    return json.dumps(data).encode()


def postmark_body(name: str, recipient: str, **changes: Any) -> bytes:
    data = sample(name)
    data["Recipient" if "Recipient" in data else "Email"] = recipient  # SubscriptionChange names Recipient
    data.update(changes)
    return json.dumps(data).encode()


def basic(credentials: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(credentials.encode()).decode()}


def sendgrid_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def sendgrid_public(key: ec.EllipticCurvePrivateKey) -> str:
    """The verification key as SendGrid's settings page shows it: base64 DER."""
    der = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(der).decode()


def _sendgrid_name(event: dict[str, Any]) -> str:
    # The documented examples: a bounce of type "blocked" is asked for as "blocked".
    return "blocked" if event["event"] == "bounce" and event.get("type") == "blocked" else event["event"]


def sendgrid_events(recipient: str, *names: str, message_id: str = "") -> bytes:
    """The documented examples named (all of them: one of each type, in the docs' order), about ``recipient``."""
    events = [dict(e, email=recipient) for e in sample("sendgrid_events.json")
              if not names or _sendgrid_name(e) in names]
    if message_id:
        for event in events:
            event["smtp-id"] = message_id
    return json.dumps(events).encode()


def sendgrid_headers(key: ec.EllipticCurvePrivateKey, body: bytes, now: datetime) -> dict[str, str]:
    timestamp = str(int(now.timestamp()))
    signature = key.sign(timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))
    return {"X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(signature).decode(),
            "X-Twilio-Email-Event-Webhook-Timestamp": timestamp, "Content-Type": "application/json"}


# -- what a user would check about a reader


def standing(services: Services, address: str) -> tuple[str, bool, list[str]]:
    """The reader's status, whether the address is suppressed, and their history's kinds."""
    with services.sessions() as session:
        reader = session.scalar(select(Subscriber).where(Subscriber.email == address))
        assert reader is not None
        kinds = session.scalars(select(SubscriberEvent.kind).where(SubscriberEvent.subscriber_id == reader.id)
                                .order_by(SubscriberEvent.id)).all()
        return reader.status.value, bool(services.suppression.suppressed(session, [address])), [k.value for k in kinds]


def dsn(recipient: str, original_headers: str, status: str = "5.1.1") -> bytes:
    """A DSN for ``recipient`` returning our message's headers (as tests/inbound build them)."""
    return (
        "From: Mail Delivery System <MAILER-DAEMON@mx.example.com>\r\nTo: bounces@example.org\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\r\n\r\n'
        "--B\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n"
        "--B\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.com\r\n\r\n"
        f"Final-Recipient: rfc822; {recipient}\r\nAction: failed\r\nStatus: {status}\r\n"
        f"Diagnostic-Code: smtp; 550 {status} no such mailbox\r\n\r\n"
        f"--B\r\nContent-Type: text/rfc822-headers\r\n\r\n{original_headers}\r\n\r\n--B--\r\n"
    ).encode()


def arf(recipient: str, original_headers: str) -> bytes:
    return (
        "From: fbl@isp.example.net\r\nTo: abuse@example.org\r\nSubject: FW: complaint\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=feedback-report; boundary="F"\r\n\r\n'
        "--F\r\nContent-Type: text/plain\r\n\r\nThis is an abuse report.\r\n"
        "--F\r\nContent-Type: message/feedback-report\r\n\r\nFeedback-Type: abuse\r\nUser-Agent: FBL/1.0\r\n"
        f"Version: 1\r\nOriginal-Rcpt-To: {recipient}\r\n\r\n"
        f"--F\r\nContent-Type: message/rfc822\r\n\r\n{original_headers}\r\n\r\nThe newsletter.\r\n\r\n--F--\r\n"
    ).encode()
