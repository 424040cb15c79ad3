"""Bounces and complaints that come back to the bounce address: who they are about, and what
to do to that reader.

A report to a VERP address (`bounces+<token>@`) names its delivery by a signed token, so the
reader is certain whatever the report says; a forged token changes nothing. A report to the
plain `bounces@`, `postmaster@` or `abuse@` is believed only about an address we have mailed
(a reader with a delivery, or a pending one sent a confirmation).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from newsletter.inbound.bounces import BouncedRecipient, InboundReport, classify_message
from newsletter.readers.history import record_event
from newsletter.delivery.models import Delivery, DeliveryStatus
from newsletter.readers.models import Subscriber, SubscriberEventKind, SubscriberStatus
from newsletter.readers.standing import SOFT_BOUNCE_WINDOW, complained, hard_bounced, soft_bounced
from newsletter.services import Services
from newsletter.mail.signed_addresses import BOUNCES, SignedAddresses
from newsletter.mail.tokens import InvalidToken

log = logging.getLogger(__name__)



@dataclass(frozen=True)
class _Target:
    """The reader a report is about and, for a VERP report, the delivery."""

    subscriber_id: int
    email: str
    delivery_id: int | None = None


class ReportReader:
    def __init__(self, services: Services) -> None:
        self._services = services
        self._verp = SignedAddresses(services.settings.secret_key, services.settings.mail_domain, BOUNCES)

    def handle(self, data: bytes, local_part: str) -> list[str]:
        """Act on one report sent to `local_part`@our domain; returns what was done."""
        if "+" in local_part:
            return self._verp_report(data, local_part)
        report = classify_message(data)
        if report.kind not in ("bounce", "complaint"):
            return [f"{report.kind}: logged only"]
        lines = []
        for item in report.recipients or []:
            target = self._mailed(item.address)
            if target is None:
                lines.append(f"{report.kind}: {item.address} was never mailed by us, nothing changed")
            else:
                lines.append(self._apply(report, item, target))
        return lines or [f"{report.kind}: names no recipient, nothing changed"]

    def _verp_report(self, data: bytes, local_part: str) -> list[str]:
        try:
            delivery_id = self._verp.read(local_part)
        except InvalidToken as exc:
            return [f"report to {local_part}: {exc} (forged or damaged), nothing changed"]
        with self._services.sessions() as session:
            row = session.execute(
                select(Subscriber.id, Subscriber.email)
                .join(Delivery, Delivery.subscriber_id == Subscriber.id)
                .where(Delivery.id == delivery_id)
            ).first()
        if row is None:
            return [f"report for delivery {delivery_id}: no such delivery (reader erased?), nothing changed"]
        target = _Target(row.id, row.email, delivery_id)
        report = classify_message(data, verp_recipient=target.email)
        if report.kind == "auto-reply":
            with self._services.sessions.begin() as session:
                record_event(session, target.subscriber_id, SubscriberEventKind.AUTO_REPLY, "auto-reply to an issue")
            return [f"auto-reply: from subscriber {target.subscriber_id}, recorded, not a bounce"]
        if report.kind not in ("bounce", "complaint"):
            return [f"{report.kind}: for delivery {delivery_id}, logged only"]
        # The token names the reader; the report may name a forwarding address instead.
        items = report.recipients
        item = next((r for r in items if r.address == target.email), items[0] if items else None)
        if item is None:
            return [f"{report.kind}: for delivery {delivery_id} names no recipient, nothing changed"]
        return [self._apply(report, item, target)]

    def _mailed(self, address: str) -> _Target | None:
        with self._services.sessions() as session:
            subscriber = session.scalar(select(Subscriber).where(Subscriber.email == address.lower()))
            if subscriber is None:
                return None
            mailed = subscriber.status is SubscriberStatus.PENDING or session.scalar(
                select(exists().where(Delivery.subscriber_id == subscriber.id))
            )
            return _Target(subscriber.id, subscriber.email) if mailed else None

    def _apply(self, report: InboundReport, item: BouncedRecipient, target: _Target) -> str:
        if report.kind == "complaint":
            return self._complaint(target, report.feedback_type)
        if item.action != "failed":
            return f"bounce: {target.email} {item.action}, not counted"
        with self._services.sessions.begin() as session:
            subscriber = session.get(Subscriber, target.subscriber_id)
            if subscriber is None:
                return f"bounce: {target.email} is no longer a subscriber, nothing changed"
            what = f"{item.status} {item.reason}".strip()
            if item.bounce_class == "hard":
                return self._hard(session, subscriber, target, what)
            return self._soft(session, subscriber, what)

    def _hard(self, session: Session, subscriber: Subscriber, target: _Target, what: str) -> str:
        hard_bounced(session, self._services.suppression, [(subscriber.id, what)])
        if target.delivery_id is not None:
            delivery = session.get(Delivery, target.delivery_id)
            if delivery is not None and delivery.status is DeliveryStatus.SENT:
                # Accepted by the relay, refused later by the reader's server.
                delivery.status = DeliveryStatus.BOUNCED
                delivery.last_reply = f"bounced after sending: {what}"[:2000]
        return f"bounce: {target.email} hard {what}, bounced and suppressed"

    def _soft(self, session: Session, subscriber: Subscriber, what: str) -> str:
        counted = soft_bounced(session, subscriber.id, what)
        days = SOFT_BOUNCE_WINDOW.days
        if counted.suspended:
            return f"bounce: {subscriber.email} soft ({counted.recent} in {days} days), suspended as bounced"
        return f"bounce: {subscriber.email} soft {what}, counted ({counted.recent} in {days} days)"

    def _complaint(self, target: _Target, feedback_type: str) -> str:
        with self._services.sessions.begin() as session:
            if session.get(Subscriber, target.subscriber_id) is None:
                return f"complaint: {target.email} is no longer a subscriber, nothing changed"
            complained(session, self._services.suppression, target.subscriber_id, feedback_type)
            return f"complaint ({feedback_type}): {target.email} unsubscribed, complained and suppressed"
