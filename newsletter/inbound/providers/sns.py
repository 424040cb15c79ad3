"""Amazon SNS messages to an HTTPS endpoint, verified as AWS documents: the signature
(``SignatureVersion`` 1: SHA1withRSA, 2: SHA256withRSA) over the message's canonical string, made
with the certificate at ``SigningCertURL``. That URL must be ``https://sns.<region>.amazonaws.com[.cn]/
....pem``, checked before anything is fetched, so a forged message cannot make us fetch an
address of its choosing; the certificate is trusted because TLS proved the host is AWS's.
Certificates are cached per URL. A verified ``SubscriptionConfirmation`` is confirmed by GETting
its ``SubscribeURL`` (the same host rule).

The HTTP side (`SnsHttp`) is injected: tests have no internet.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from newsletter.inbound.providers.events import BadPayload, ForgedEvent, ProviderUnavailable, json_body

# SNS hosts: sns.<region>.amazonaws.com, and amazonaws.com.cn in the China regions (the usual verifiers' pattern).
_SNS_HOST = re.compile(r"sns\.[a-z0-9-]{1,40}\.amazonaws\.com(\.cn)?")
# The fields each type's signature covers, in this (sorted) order; Subject only when present.
SIGNED_FIELDS = {
    "Notification": ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"),
    "SubscriptionConfirmation": ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"),
    "UnsubscribeConfirmation": ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"),
}
HASHES: dict[str, type[hashes.HashAlgorithm]] = {"1": hashes.SHA1, "2": hashes.SHA256}
CERT_MAX_BYTES = 64 * 1024
CACHE_SIZE = 16


class SnsHttp(Protocol):
    """The two requests SNS needs: the signing certificate, and confirming a subscription."""

    def fetch_certificate(self, url: str) -> bytes: ...

    def confirm(self, url: str) -> None: ...


class HttpxSns:
    """The real one: plain GETs with a short timeout and no redirects (the URL was checked)."""

    def __init__(self, timeout: float = 10.0) -> None:
        self._timeout = timeout

    def _get(self, url: str) -> bytes:
        import httpx

        try:
            response = httpx.get(url, timeout=self._timeout, follow_redirects=False)
            response.raise_for_status()
        except httpx.HTTPError as exc:
            raise ProviderUnavailable(f"cannot fetch {url}: {exc}") from exc
        return response.content[: CERT_MAX_BYTES + 1]

    def fetch_certificate(self, url: str) -> bytes:
        return self._get(url)

    def confirm(self, url: str) -> None:
        self._get(url)


@dataclass(frozen=True)
class SnsMessage:
    type: str
    message_id: str
    topic_arn: str
    message: str
    subscribe_url: str = ""


def aws_url(url: Any, what: str) -> str:
    """``url`` if it is https on an SNS host of AWS, else ForgedEvent (never fetched)."""
    if not isinstance(url, str):
        raise ForgedEvent(f"{what} is missing")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise ForgedEvent(f"{what} is not a URL") from exc
    host = parts.hostname or ""
    if parts.scheme != "https" or not _SNS_HOST.fullmatch(host) or port not in (None, 443) or parts.username:
        raise ForgedEvent(f"{what} is not on https://sns.<region>.amazonaws.com: {url[:200]}")
    return url


class SnsVerifier:
    def __init__(self, topic_arns: frozenset[str], http: SnsHttp) -> None:
        self._topics = topic_arns
        self._http = http
        self._keys: OrderedDict[str, rsa.RSAPublicKey] = OrderedDict()

    def verify(self, body: bytes) -> SnsMessage:
        """The message, once its topic, certificate URL and signature check out; else ForgedEvent."""
        data = json_body(body)
        if not isinstance(data, dict):
            raise BadPayload("an SNS message is a JSON object")
        kind = data.get("Type")
        if kind not in SIGNED_FIELDS:
            raise BadPayload(f"unknown SNS message type {str(kind)[:40]!r}")
        topic = data.get("TopicArn")
        if topic not in self._topics:
            raise ForgedEvent(f"topic {str(topic)[:200]!r} is not in NEWSLETTER_SES_TOPIC_ARNS")
        algorithm = HASHES.get(str(data.get("SignatureVersion")))
        if algorithm is None:
            raise ForgedEvent(f"unsupported SignatureVersion {str(data.get('SignatureVersion'))[:10]!r}")
        url = aws_url(data.get("SigningCertURL"), "SigningCertURL")
        if not urlsplit(url).path.endswith(".pem"):
            raise ForgedEvent("SigningCertURL is not a certificate (.pem)")
        try:
            signature = base64.b64decode(str(data.get("Signature", "")), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ForgedEvent("the signature is not base64") from exc
        canonical = _canonical(data, SIGNED_FIELDS[kind])
        try:
            self._key(url).verify(signature, canonical, padding.PKCS1v15(), algorithm())
        except InvalidSignature as exc:
            raise ForgedEvent("the SNS signature does not verify") from exc
        return SnsMessage(kind, str(data.get("MessageId", "")), topic, str(data.get("Message", "")),
                          str(data.get("SubscribeURL", "")))

    def confirm(self, message: SnsMessage) -> None:
        """Confirm a verified subscription to one of our topics."""
        self._http.confirm(aws_url(message.subscribe_url, "SubscribeURL"))

    def _key(self, url: str) -> rsa.RSAPublicKey:
        key = self._keys.get(url)
        if key is not None:
            self._keys.move_to_end(url)
            return key
        pem = self._http.fetch_certificate(url)
        if len(pem) > CERT_MAX_BYTES:
            raise ForgedEvent("the signing certificate is too large")
        try:
            public = x509.load_pem_x509_certificate(pem).public_key()
        except ValueError as exc:
            raise ForgedEvent("SigningCertURL does not hold a certificate") from exc
        if not isinstance(public, rsa.RSAPublicKey):
            raise ForgedEvent("the signing certificate's key is not RSA")
        self._keys[url] = public
        if len(self._keys) > CACHE_SIZE:
            self._keys.popitem(last=False)
        return public


def _canonical(data: dict[str, Any], fields: tuple[str, ...]) -> bytes:
    lines: list[str] = []
    for name in fields:
        if data.get(name) is None:
            if name == "Subject":
                continue
            raise ForgedEvent(f"the SNS message has no {name}")
        value = data[name]
        if not isinstance(value, str):
            raise ForgedEvent(f"the SNS message's {name} is not a string")
        lines += [name, value]
    return ("\n".join(lines) + "\n").encode()


def string_to_sign(data: dict[str, Any]) -> bytes:
    """The bytes SNS signs for ``data`` (for tests that sign their own samples)."""
    return _canonical(data, SIGNED_FIELDS[data["Type"]])
