"""Readers joining and leaving: double opt-in, confirmation, one-click unsubscribe, admin adds."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from newsletter.addresses import InvalidAddress, clean_name, normalise_email
from newsletter.backends import Backend, BackendError, OutgoingMessage, SendStatus
from newsletter.config import Settings
from newsletter.links import Links
from newsletter.mailheaders import address as envelope_address
from newsletter.message import build_simple_message
from newsletter.models import Subscriber, SubscriberStatus, utcnow
from newsletter.render import render_confirmation
from newsletter.suppression import SuppressionList
from newsletter.tokens import InvalidToken

# Double opt-in protects against list bombing only if one address can't be sent endless mails.
MAX_CONFIRMATIONS = 3


class SubscribeOutcome(str, enum.Enum):
    CONFIRMATION_SENT = "confirmation_sent"
    ALREADY_SUBSCRIBED = "already_subscribed"
    TOO_MANY_CONFIRMATIONS = "too_many_confirmations"
    SUPPRESSED = "suppressed"


@dataclass(frozen=True)
class SubscribeResult:
    subscriber_id: int
    outcome: SubscribeOutcome


class ConfirmationNotSent(RuntimeError):
    """The confirmation email could not be handed to the backend; the reader stays pending."""


class Subscriptions:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        settings: Settings,
        backend: Backend,
        links: Links,
        suppression: SuppressionList | None = None,
    ) -> None:
        self._sessions = sessions
        self._suppression = suppression
        self._settings = settings
        self._backend = backend
        self._links = links

    def subscribe(self, email: str, name: str = "", source: str = "web") -> SubscribeResult:
        """Start double opt-in. The same address twice never makes two subscribers."""
        address = normalise_email(email)
        with self._sessions.begin() as session:
            if self._is_suppressed(session, address):
                # Never mailed again, not even a confirmation; the form shows the usual page.
                return SubscribeResult(0, SubscribeOutcome.SUPPRESSED)
            subscriber = _get_or_create(session, address, clean_name(name), source)
            if subscriber.status is SubscriberStatus.ACTIVE:
                return SubscribeResult(subscriber.id, SubscribeOutcome.ALREADY_SUBSCRIBED)
            if subscriber.confirmations_sent >= MAX_CONFIRMATIONS:
                return SubscribeResult(subscriber.id, SubscribeOutcome.TOO_MANY_CONFIRMATIONS)
            if name:
                subscriber.name = clean_name(name)
            subscriber.status = SubscriberStatus.PENDING
            subscriber.confirmations_sent += 1
            subscriber_id, to_name = subscriber.id, subscriber.name
        self._send_confirmation(subscriber_id, address, to_name)
        return SubscribeResult(subscriber_id, SubscribeOutcome.CONFIRMATION_SENT)

    def _is_suppressed(self, session: Session, address: str) -> bool:
        return self._suppression is not None and bool(self._suppression.suppressed(session, [address]))

    def erase(self, email: str) -> bool:
        """GDPR erasure: delete the reader and their deliveries, keep only the suppression hash."""
        address = normalise_email(email)
        with self._sessions.begin() as session:
            subscriber = session.scalar(select(Subscriber).where(Subscriber.email == address))
            if self._suppression is not None:
                self._suppression.add(session, [address], "erased")
            if subscriber is None:
                return False
            session.delete(subscriber)
            return True

    def send_confirmation(self, subscriber_id: int) -> bool:
        """Mail a pending reader the confirmation link; False once the per-address cap is reached."""
        with self._sessions.begin() as session:
            subscriber = session.get(Subscriber, subscriber_id)
            if subscriber is None or subscriber.status is not SubscriberStatus.PENDING:
                return False
            if subscriber.confirmations_sent >= MAX_CONFIRMATIONS:
                return False
            subscriber.confirmations_sent += 1
            address, name = subscriber.email, subscriber.name
        self._send_confirmation(subscriber_id, address, name)
        return True

    def _send_confirmation(self, subscriber_id: int, address: str, name: str) -> None:
        url = self._links.confirm(subscriber_id, address)
        subject, text, html = render_confirmation(self._settings, url, name)
        message_id, data = build_simple_message(
            self._settings, to_email=address, to_name=name, subject=subject, text=text, html=html
        )
        message = OutgoingMessage(self._settings.sender_email, envelope_address(address), data, message_id)
        try:
            [result] = self._backend.send([message])
        except BackendError as exc:
            raise ConfirmationNotSent(f"could not send the confirmation email: {exc}") from exc
        if result.status is not SendStatus.SENT:
            raise ConfirmationNotSent(f"the mail server refused the confirmation email: {result.code} {result.reply}")

    def confirm(self, subscriber_id: int, email: str) -> Subscriber:
        """Activate a pending reader from a verified confirmation token's contents."""
        with self._sessions.begin() as session:
            subscriber = session.get(Subscriber, subscriber_id)
            if subscriber is None or subscriber.email != email:
                raise InvalidToken("this confirmation link does not match a subscription")
            if subscriber.status is not SubscriberStatus.PENDING and subscriber.status is not SubscriberStatus.ACTIVE:
                # An old link must not re-subscribe someone who left, bounced or complained since.
                raise InvalidToken("this confirmation link is no longer valid; please subscribe again")
            if subscriber.status is SubscriberStatus.PENDING:
                subscriber.status = SubscriberStatus.ACTIVE
                subscriber.confirmed_at = utcnow()
                subscriber.unsubscribed_at = None
            return subscriber

    def unsubscribe(self, subscriber_id: int) -> Subscriber:
        """Honoured at once; idempotent, so a second click or Gmail's POST changes nothing."""
        with self._sessions.begin() as session:
            subscriber = session.get(Subscriber, subscriber_id)
            if subscriber is None:
                raise InvalidToken("this unsubscribe link does not match a subscriber")
            if subscriber.status in (SubscriberStatus.ACTIVE, SubscriberStatus.PENDING):
                subscriber.status = SubscriberStatus.UNSUBSCRIBED
                subscriber.unsubscribed_at = utcnow()
            return subscriber

    def add(self, email: str, name: str = "", source: str = "admin") -> tuple[Subscriber, bool]:
        """An editor adds a reader directly (already consented): active at once.

        Returns the subscriber and whether it was created. Readers who unsubscribed, bounced
        or complained are not silently re-activated.
        """
        address = normalise_email(email)
        with self._sessions.begin() as session:
            existing = session.scalar(select(Subscriber).where(Subscriber.email == address))
            if existing is not None:
                return existing, False
            if self._is_suppressed(session, address):
                raise InvalidAddress(f"{address} is on the suppression list (it bounced, complained or was erased)")
            subscriber = _get_or_create(session, address, clean_name(name), source)
            subscriber.status = SubscriberStatus.ACTIVE
            subscriber.confirmed_at = utcnow()
            return subscriber, True


def _get_or_create(session: Session, address: str, name: str, source: str) -> Subscriber:
    found = session.scalar(select(Subscriber).where(Subscriber.email == address))
    if found is not None:
        return found
    subscriber = Subscriber(email=address, name=name, source=source, status=SubscriberStatus.PENDING)
    try:
        # A savepoint, so losing a race with a concurrent sign-up keeps the outer transaction.
        with session.begin_nested():
            session.add(subscriber)
    except IntegrityError:
        found = session.scalar(select(Subscriber).where(Subscriber.email == address))
        assert found is not None
        return found
    return subscriber
