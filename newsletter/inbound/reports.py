"""Bounces and complaints that come back to the bounce address: who they are about, and what
to do to that reader.

A report is believed only with proof that it is about mail we sent, because anyone can write
one naming any address. The proof is one of our signed tokens, which only that mail carries:

- the VERP address the report came to (`bounces+<token>@`, the delivery's envelope sender);
- or, in the original message the report returns (a DSN's message/rfc822 or headers part, an
  ARF report's original, a bounce quoting it inline): the delivery's Message-ID
  (`issue-N.reader-M.d-<token>@`, so VERP may be off), its Return-Path (`bounces+<token>@`), or a
  confirmation's Reply-To (`confirm+<token>@`, for a pending reader).

The token names the reader, whatever address the report names. Anything else (a plain report, a
forged or damaged token) changes nothing and is kept as unverified (`inbound.unverified`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from newsletter.inbound.bounces import BouncedRecipient, InboundReport, Proof, classify_message
from newsletter.inbound.unverified import record_unverified
from newsletter.readers.history import record_event
from newsletter.delivery.models import Delivery, DeliveryStatus
from newsletter.readers.models import Subscriber, SubscriberEventKind
from newsletter.readers.standing import SOFT_BOUNCE_WINDOW, complained, hard_bounced, soft_bounced
from newsletter.readers.suppression import SuppressionList
from newsletter.services import Services
from newsletter.mail.signed_addresses import BOUNCES, CONFIRM, MESSAGE_ID, SignedAddresses
from newsletter.mail.tokens import InvalidToken

log = logging.getLogger(__name__)
NO_PROOF = "it carries none of our signed tokens (Message-ID, VERP Return-Path, confirm+ Reply-To)"


@dataclass(frozen=True)
class _Target:
    """The reader a report's token names and, unless it was a confirmation's token, the delivery."""

    subscriber_id: int
    email: str
    delivery_id: int | None = None


def _item_for(report: InboundReport, target: _Target) -> BouncedRecipient | None:
    """What the report says about the proven reader: the token names them; the report may name a
    forwarding address instead, or (a complaint with the address redacted) no one."""
    items = report.recipients
    item = next((r for r in items if r.address == target.email), items[0] if items else None)
    if item is None and report.kind == "complaint":
        return BouncedRecipient(target.email, "hard", "", f"complaint: {report.feedback_type}", "complaint")
    return item


class ReportReader:
    def __init__(self, services: Services) -> None:
        self._services = services
        settings = services.settings
        self._verp = SignedAddresses(settings.secret_key, settings.mail_domain, BOUNCES)
        # One key per kind of token, as they were signed (mail.message, readers.subscriptions).
        self._signers = {
            MESSAGE_ID: SignedAddresses(settings.secret_key, "", MESSAGE_ID),
            BOUNCES: self._verp,
            CONFIRM: SignedAddresses(settings.secret_key, settings.mail_domain, CONFIRM),
        }

    def handle(self, data: bytes, local_part: str) -> list[str]:
        """Act on one report sent to `local_part`@our domain; returns what was done."""
        if "+" in local_part:
            return self._verp_report(data, local_part)
        report = classify_message(data)
        if report.kind not in ("bounce", "complaint"):
            return [f"{report.kind}: logged only"]
        targets, refused = self._proven(report.proofs)
        if not targets:
            return [self._unverified(report, local_part, "; ".join(refused) or NO_PROOF)]
        lines: list[str] = []
        used: set[str] = set()
        for target in targets:
            item = _item_for(report, target)
            if item is None:
                lines.append(f"{report.kind}: for {target.email} names no recipient, nothing changed")
                continue
            used.add(item.address)
            lines.append(self._apply(report, item, target))
        # Addresses the report names beside the proven reader have no proof of their own.
        others = [r.address for r in report.recipients if r.address not in used]
        if others:
            lines.append(self._unverified(report, local_part, "named beside the proven reader, without proof",
                                          others))
        return lines

    def _proven(self, proofs: tuple[Proof, ...]) -> tuple[list[_Target], list[str]]:
        """The readers the report's tokens name (each once), and why any token was refused."""
        targets: list[_Target] = []
        refused: list[str] = []
        for proof in proofs:
            try:
                value = self._signers[proof.kind].read_token(proof.token)
            except InvalidToken as exc:
                refused.append(f"{proof.kind} {exc} (forged or damaged)")
                continue
            target = self._subscriber_of(value) if proof.kind == CONFIRM else self._delivery_of(value)
            if target is None:
                refused.append(f"{proof.kind} token names no reader now (erased?)")
            elif all(t.subscriber_id != target.subscriber_id for t in targets):
                targets.append(target)
        return targets, refused

    def _delivery_of(self, delivery_id: int) -> _Target | None:
        with self._services.sessions() as session:
            row = session.execute(
                select(Subscriber.id, Subscriber.email)
                .join(Delivery, Delivery.subscriber_id == Subscriber.id)
                .where(Delivery.id == delivery_id)
            ).first()
        return None if row is None else _Target(row.id, row.email, delivery_id)

    def _subscriber_of(self, subscriber_id: int) -> _Target | None:
        # A confirmation email's token: it names the reader it was sent to, not a delivery.
        with self._services.sessions() as session:
            email = session.scalar(select(Subscriber.email).where(Subscriber.id == subscriber_id))
        return None if email is None else _Target(subscriber_id, email)

    def _unverified(self, report: InboundReport, local_part: str, why: str,
                    addresses: list[str] | None = None) -> str:
        named = [r.address for r in report.recipients] if addresses is None else addresses
        sent_to = f"{local_part}@{self._services.settings.mail_domain}"
        with self._services.sessions.begin() as session:
            record_unverified(session, report.kind, sent_to, named, why)
        who = ", ".join(named) or "no address"
        return f"{report.kind} to {sent_to} about {who}: not verified ({why}), nothing changed; kept as unverified"

    def _verp_report(self, data: bytes, local_part: str) -> list[str]:
        try:
            delivery_id = self._verp.read(local_part)
        except InvalidToken as exc:
            report = classify_message(data)
            if report.kind in ("bounce", "complaint"):
                return [self._unverified(report, local_part, f"{exc} (forged or damaged)")]
            return [f"report to {local_part}: {exc} (forged or damaged), nothing changed"]
        target = self._delivery_of(delivery_id)
        if target is None:
            return [f"report for delivery {delivery_id}: no such delivery (reader erased?), nothing changed"]
        report = classify_message(data, verp_recipient=target.email)
        if report.kind == "auto-reply":
            with self._services.sessions.begin() as session:
                record_event(session, target.subscriber_id, SubscriberEventKind.AUTO_REPLY, "auto-reply to an issue")
            return [f"auto-reply: from subscriber {target.subscriber_id}, recorded, not a bounce"]
        if report.kind not in ("bounce", "complaint"):
            return [f"{report.kind}: for delivery {delivery_id}, logged only"]
        item = _item_for(report, target)
        if item is None:
            return [f"{report.kind}: for delivery {delivery_id} names no recipient, nothing changed"]
        return [self._apply(report, item, target)]

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
        hard_bounce_after_sending(session, self._services.suppression, subscriber.id, target.delivery_id, what)
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


def hard_bounce_after_sending(session: Session, suppression: SuppressionList, subscriber_id: int,
                              delivery_id: int | None, detail: str) -> None:
    """A hard bounce reported after the relay took the message (a DSN, a provider's event): the
    reader's standing by ``readers.standing``, and the delivery, when we know it, bounced."""
    hard_bounced(session, suppression, [(subscriber_id, detail)])
    if delivery_id is not None:
        delivery = session.get(Delivery, delivery_id)
        if delivery is not None and delivery.status is DeliveryStatus.SENT:
            # Accepted by the relay, refused later by the reader's server.
            delivery.status = DeliveryStatus.BOUNCED
            delivery.last_reply = f"bounced after sending: {detail}"[:2000]
