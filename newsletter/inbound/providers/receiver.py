"""One call per provider webhook: configured? verified? then parsed and applied. The web module
only passes the raw body and headers in and maps the errors out.

A provider whose secret is not set is off (`ProviderNotConfigured`); a request that fails the
provider's verification is refused (`ForgedEvent`) before anything in it is read or recorded.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime

from newsletter.inbound.providers import mailgun, postmark, sendgrid
from newsletter.inbound.providers.apply import EventApplier
from newsletter.inbound.providers.events import OneTimeToken, ProviderNotConfigured
from newsletter.inbound.providers.ses import ses_events
from newsletter.inbound.providers.sns import HttpxSns, SnsHttp, SnsVerifier
from newsletter.services import Services

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Received:
    """What a webhook request did: one line per event (or the confirmation)."""

    lines: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return {"ok": True, "events": self.lines}


def topic_arns(value: str) -> frozenset[str]:
    return frozenset(value.replace(",", " ").split())


class ProviderWebhooks:
    def __init__(self, services: Services, sns_http: SnsHttp | None = None) -> None:
        settings = services.settings
        self._settings = settings
        self._applier = EventApplier(services)
        self._sns = SnsVerifier(topic_arns(settings.ses_topic_arns), sns_http or HttpxSns())
        self._sendgrid_key = (sendgrid.load_key(settings.sendgrid_verification_key)
                              if settings.sendgrid_verification_key.strip() else None)

    def _done(self, lines: list[str]) -> Received:
        for line in lines:
            log.info("provider webhook: %s", line)
        return Received(lines)

    def ses(self, body: bytes) -> Received:
        if not topic_arns(self._settings.ses_topic_arns):
            raise ProviderNotConfigured("the SES webhook is off: set NEWSLETTER_SES_TOPIC_ARNS")
        message = self._sns.verify(body)
        if message.type == "SubscriptionConfirmation":
            self._sns.confirm(message)
            return self._done([f"ses: subscription to {message.topic_arn} confirmed"])
        if message.type == "UnsubscribeConfirmation":
            return self._done([f"ses: unsubscribed from {message.topic_arn}, ignored"])
        return self._done(self._applier.apply(ses_events(message)))

    def mailgun(self, body: bytes, now: datetime) -> Received:
        key = self._settings.mailgun_signing_key
        if not key:
            raise ProviderNotConfigured("the Mailgun webhook is off: set NEWSLETTER_MAILGUN_SIGNING_KEY")
        signed = mailgun.verify(key, body, now)
        token = OneTimeToken(mailgun.TOKEN_PROVIDER, signed.token, signed.fresh)
        return self._done(self._applier.apply([mailgun.mailgun_event(signed.event)], token=token))

    def postmark(self, body: bytes, authorization: str | None) -> Received:
        credentials = self._settings.postmark_webhook_auth
        if not credentials:
            raise ProviderNotConfigured("the Postmark webhook is off: set NEWSLETTER_POSTMARK_WEBHOOK_AUTH")
        postmark.verify(credentials, authorization)
        return self._done(self._applier.apply(postmark.postmark_events(body)))

    def sendgrid(self, body: bytes, signature: str | None, timestamp: str | None, now: datetime) -> Received:
        if self._sendgrid_key is None:
            raise ProviderNotConfigured("the SendGrid webhook is off: set NEWSLETTER_SENDGRID_VERIFICATION_KEY")
        sendgrid.verify(self._sendgrid_key, body, signature, timestamp, now)
        return self._done(self._applier.apply(sendgrid.sendgrid_events(body)))
