"""A reader's own preferences: pause for a few weeks, change of address (reconfirmed), time zone.

The reader is named by their unsubscribe token (the web layer reads it), so no new secret is
kept per reader. A new address gets a confirmation link and only replaces the old one when it is
followed, so a typo or a stranger's address never takes a reader's mail away from them.
"""

from __future__ import annotations

import functools
import zoneinfo
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from newsletter.errors import Conflict, InvalidInput, Unavailable
from newsletter.readers.addresses import InvalidAddress, normalise_email
from newsletter.mail.backends import Backend
from newsletter.config import Settings
from newsletter.readers.history import SubscriberNotFound, record_event
from newsletter.mail.links import Links
from newsletter.db.base import utcnow
from newsletter.readers.models import Subscriber, SubscriberEventKind, SubscriberStatus
from newsletter.readers.subscriptions import ConfirmationNotSent, mail_confirmation
from newsletter.readers.suppression import SuppressionList
from newsletter.mail.tokens import InvalidToken

MAX_PAUSE_WEEKS = 12
# Confirmation emails to new addresses one reader may ask for before one is followed: with the
# per-client limit on the form, a reader's link cannot be used to mail strangers repeatedly.
MAX_EMAIL_CHANGES = 3


class InvalidPreference(InvalidInput):
    """A preference that cannot be set; ``field`` names the form field the message belongs beside."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


class NotSubscribed(Conflict):
    """The reader has left (or bounced, or complained): there is nothing to pause or change."""


class EmailChangeNotSent(Unavailable):
    """The confirmation email to the new address could not be handed to the mail server."""

    http_status = 502


@dataclass(frozen=True)
class ReaderPreferences:
    subscriber_id: int
    email: str
    name: str
    status: SubscriberStatus
    paused_until: datetime | None  # only while the pause lasts
    pending_email: str | None  # a new address awaiting its confirmation
    time_zone: str | None  # None: the list's zone

    @property
    def subscribed(self) -> bool:
        return self.status is SubscriberStatus.ACTIVE


@functools.lru_cache(maxsize=1)
def time_zones() -> tuple[str, ...]:
    """The IANA zones a reader may pick (read once: the tzdata files do not change while running)."""
    return tuple(sorted(z for z in zoneinfo.available_timezones() if "/" in z and not z.startswith(("Etc/", "SystemV/"))))


def parse_weeks(value: str) -> int:
    text = value.strip()
    if not text.isdigit() or not 1 <= int(text) <= MAX_PAUSE_WEEKS:
        raise InvalidPreference("weeks", f"choose between 1 and {MAX_PAUSE_WEEKS} weeks")
    return int(text)


def _view(subscriber: Subscriber, now: datetime) -> ReaderPreferences:
    paused = subscriber.paused_until if subscriber.paused_until and subscriber.paused_until > now else None
    return ReaderPreferences(
        subscriber.id, subscriber.email, subscriber.name, subscriber.status, paused, subscriber.pending_email,
        subscriber.time_zone,
    )


class Preferences:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        settings: Settings,
        backend: Backend,
        links: Links,
        suppression: SuppressionList,
    ) -> None:
        self._sessions = sessions
        self._settings = settings
        self._backend = backend
        self._links = links
        self._suppression = suppression

    def get(self, subscriber_id: int) -> ReaderPreferences:
        with self._sessions() as session:
            return _view(self._reader(session, subscriber_id), utcnow())

    def pause(self, subscriber_id: int, weeks: int, now: datetime | None = None) -> ReaderPreferences:
        """No issue is queued for the reader until ``weeks`` from now; then it goes on by itself."""
        if not 1 <= weeks <= MAX_PAUSE_WEEKS:
            raise InvalidPreference("weeks", f"choose between 1 and {MAX_PAUSE_WEEKS} weeks")
        now = now or utcnow()
        with self._sessions.begin() as session:
            subscriber = self._subscribed(session, subscriber_id)
            subscriber.paused_until = now + timedelta(weeks=weeks)
            record_event(session, subscriber.id, SubscriberEventKind.STATUS_CHANGED,
                         f"paused by the reader for {weeks} week{'s' if weeks != 1 else ''}, "
                         f"until {subscriber.paused_until:%Y-%m-%d}")
            return _view(subscriber, now)

    def resume(self, subscriber_id: int) -> ReaderPreferences:
        now = utcnow()
        with self._sessions.begin() as session:
            subscriber = self._subscribed(session, subscriber_id)
            if subscriber.paused_until is not None and subscriber.paused_until > now:
                record_event(session, subscriber.id, SubscriberEventKind.STATUS_CHANGED, "pause ended by the reader")
            subscriber.paused_until = None
            return _view(subscriber, now)

    def set_time_zone(self, subscriber_id: int, zone: str) -> ReaderPreferences:
        """``zone`` is an IANA name, or "" for the list's own zone (local-time sends use it)."""
        zone = zone.strip()
        if zone and zone not in time_zones():
            raise InvalidPreference("time_zone", "choose a time zone from the list")
        with self._sessions.begin() as session:
            subscriber = self._subscribed(session, subscriber_id)
            subscriber.time_zone = zone or None
            return _view(subscriber, utcnow())

    def request_email_change(self, subscriber_id: int, new_email: str) -> ReaderPreferences:
        """Mail a confirmation link to the new address; the old one keeps receiving until it is followed."""
        try:
            address = normalise_email(new_email)
        except InvalidAddress as exc:
            raise InvalidPreference("email", f"please check the address: {exc}") from exc
        with self._sessions.begin() as session:
            subscriber = self._subscribed(session, subscriber_id)
            if address == subscriber.email:
                raise InvalidPreference("email", "that is already the address you receive the newsletter at")
            self._check_free(session, address)
            if subscriber.email_changes_sent >= MAX_EMAIL_CHANGES:
                raise InvalidPreference(
                    "email", "we have already sent several confirmation links; please follow the last one we sent"
                )
            subscriber.pending_email = address
            subscriber.email_changes_sent += 1
            record_event(session, subscriber.id, SubscriberEventKind.STATUS_CHANGED,
                         "change of address asked for by the reader; awaiting confirmation of the new address")
            view = _view(subscriber, utcnow())
        self._send_confirmation(subscriber_id, address, view.name)
        return view

    def cancel_email_change(self, subscriber_id: int) -> ReaderPreferences:
        with self._sessions.begin() as session:
            subscriber = self._reader(session, subscriber_id)
            subscriber.pending_email = None
            return _view(subscriber, utcnow())

    def confirm_email_change(self, subscriber_id: int, new_email: str) -> ReaderPreferences:
        """Follow the link sent to the new address (its token names the reader and the address)."""
        stale = "this link is no longer valid; ask for the change again on your preferences page"
        try:
            with self._sessions.begin() as session:
                subscriber = session.get(Subscriber, subscriber_id)
                if subscriber is None or subscriber.pending_email != new_email:
                    if subscriber is not None and subscriber.email == new_email:
                        return _view(subscriber, utcnow())  # followed twice: already done
                    raise InvalidToken(stale)
                if subscriber.status is not SubscriberStatus.ACTIVE:
                    raise InvalidToken("you are no longer subscribed, so there is no address to change")
                try:
                    self._check_free(session, new_email)
                except InvalidPreference as exc:
                    raise InvalidToken(exc.message) from exc
                old = subscriber.email
                subscriber.email = new_email
                subscriber.pending_email = None
                subscriber.email_changes_sent = 0
                record_event(session, subscriber.id, SubscriberEventKind.STATUS_CHANGED,
                             f"address changed by the reader from {old} to {new_email} (confirmed)")
                session.flush()  # a concurrent sign-up with the same address fails here, not at commit
                return _view(subscriber, utcnow())
        except IntegrityError as exc:
            raise InvalidToken("that address has just been subscribed by someone else") from exc

    # -- helpers

    def _reader(self, session: Session, subscriber_id: int) -> Subscriber:
        subscriber = session.get(Subscriber, subscriber_id)
        if subscriber is None:
            raise SubscriberNotFound("there is no subscription for this link any more")
        return subscriber

    def _subscribed(self, session: Session, subscriber_id: int) -> Subscriber:
        subscriber = self._reader(session, subscriber_id)
        if subscriber.status is not SubscriberStatus.ACTIVE:
            raise NotSubscribed(f"you are not subscribed (your subscription is {subscriber.status.value})")
        return subscriber

    def _check_free(self, session: Session, address: str) -> None:
        if self._suppression.suppressed(session, [address]):
            raise InvalidPreference(
                "email", "we cannot send to that address (it bounced, complained or asked to be forgotten)"
            )
        if session.scalar(select(Subscriber.id).where(Subscriber.email == address)) is not None:
            raise InvalidPreference("email", "that address is already on our list; use a different one")

    def _send_confirmation(self, subscriber_id: int, address: str, name: str) -> None:
        url = self._links.confirm_email_change(subscriber_id, address)
        try:
            mail_confirmation(self._sessions, self._settings, self._backend, url, address, name)
        except ConfirmationNotSent as exc:
            raise EmailChangeNotSent(str(exc)) from exc
