"""A reader's own preferences: pause for a few weeks, change of address (reconfirmed), time zone.

The reader is named by their unsubscribe token (the web layer reads it), so no new secret is
kept per reader. A new address gets a confirmation link and only replaces the old one when it is
followed, so a typo or a stranger's address never takes a reader's mail away from them. Whoever
holds the link (a forwarded issue has it) learns nothing about the new address: the answer is the
same whether it is free, on the list or suppressed, and the decision goes by email only. When a
move completes, the old address is told, with a link that moves it back.
"""

from __future__ import annotations

import functools
import logging
import zoneinfo
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from newsletter.errors import Conflict, InvalidInput, Unavailable
from newsletter.readers.addresses import InvalidAddress, normalise_email
from newsletter.mail.backends import Backend, BackendError, SendStatus
from newsletter.config import Settings
from newsletter.readers.history import SubscriberNotFound, record_event
from newsletter.mail.links import Links
from newsletter.db.base import utcnow
from newsletter.readers.models import Subscriber, SubscriberEventKind, SubscriberStatus
from newsletter.issues.list_profile import effective_settings, load_profile
from newsletter.mail.message import build_simple_message
from newsletter.mail.one_off import send_one_off
from newsletter.readers.welcome import CONFIRMATION_WINDOW, ConfirmationNotSent, MailAllowance, mail_confirmation
from newsletter.readers.suppression import SuppressionList
from newsletter.mail.tokens import InvalidToken
from newsletter.render.issue import TemplateError, render_notice

log = logging.getLogger(__name__)

MAX_PAUSE_WEEKS = 12
# Change-of-address emails one reader may ask for per CONFIRMATION_WINDOW (the same rule as
# sign-up confirmations): with the per-client limit on the form, a reader's link cannot be used
# to mail strangers repeatedly. Counted whatever the new address, so the limit tells nothing either.
MAX_EMAIL_CHANGES = 3
CHANGE_MAILS = MailAllowance(MAX_EMAIL_CHANGES, CONFIRMATION_WINDOW)
REFUSED_TEXT = "email/email_change_refused.txt.j2"
CHANGED_TEXT = "email/email_changed.txt.j2"


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


@dataclass(frozen=True)
class EmailChange:
    """A change of address asked for: what to mail, decided in the request, sent after it."""

    subscriber_id: int
    old_email: str
    new_email: str
    usable: bool  # False: on the list already or suppressed; the old address is told instead


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

    def ask_email_change(self, subscriber_id: int, new_email: str, now: datetime | None = None) -> EmailChange:
        """Record the asked-for address as pending, whatever it is, and say what to mail
        (`mail_email_change`): a link to a usable new address, else a word to the old one."""
        now = now or utcnow()
        try:
            address = normalise_email(new_email)
        except InvalidAddress as exc:
            raise InvalidPreference("email", f"please check the address: {exc}") from exc
        with self._sessions.begin() as session:
            subscriber = self._subscribed(session, subscriber_id, lock=True)
            if address == subscriber.email:
                raise InvalidPreference("email", "that is already the address you receive the newsletter at")
            taken = CHANGE_MAILS.take(subscriber.email_changes_sent, subscriber.email_changes_since, now)
            if taken is None:
                raise InvalidPreference(
                    "email", "we have sent several emails about a change of address today; check your inbox "
                    "(and the new address's), or try again tomorrow"
                )
            subscriber.email_changes_sent, subscriber.email_changes_since = taken
            usable = self._usable(session, address)
            subscriber.pending_email = address  # also when unusable: the page must look the same
            record_event(session, subscriber.id, SubscriberEventKind.STATUS_CHANGED,
                         "change of address asked for by the reader; " + (
                             "awaiting confirmation of the new address" if usable
                             else "the new address is on the list or suppressed: the reader was told by email"))
            return EmailChange(subscriber.id, subscriber.email, address, usable)

    def mail_email_change(self, change: EmailChange) -> None:
        """The link to the new address, or the refusal to the old one; EmailChangeNotSent if the
        mail server did not take it."""
        if change.usable:
            url = self._links.confirm_email_change(change.subscriber_id, change.new_email)
            try:
                mail_confirmation(self._sessions, self._settings, self._backend, url, change.new_email)
            except ConfirmationNotSent as exc:
                raise EmailChangeNotSent(str(exc)) from exc
            return
        self._notify(change.old_email, f"Your address for {self._settings.list_name} was not changed",
                     REFUSED_TEXT, new_email=change.new_email)

    def mail_email_change_later(self, change: EmailChange) -> None:
        """`mail_email_change` after the page answered: a failure is logged (the reader may ask again)."""
        try:
            self.mail_email_change(change)
        except (EmailChangeNotSent, TemplateError) as exc:
            log.warning("change-of-address email for subscriber %s not sent: %s", change.subscriber_id, exc)

    def request_email_change(self, subscriber_id: int, new_email: str, now: datetime | None = None) -> ReaderPreferences:
        """`ask_email_change` and its email at once; the old address keeps receiving until the link is followed."""
        change = self.ask_email_change(subscriber_id, new_email, now)
        self.mail_email_change(change)
        return self.get(subscriber_id)

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
                subscriber.email_changes_sent, subscriber.email_changes_since = 0, None
                record_event(session, subscriber.id, SubscriberEventKind.STATUS_CHANGED,
                             f"address changed by the reader from {old} to {new_email} (confirmed)")
                session.flush()  # a concurrent sign-up with the same address fails here, not at commit
                view = _view(subscriber, utcnow())
        except IntegrityError as exc:
            raise InvalidToken("that address has just been subscribed by someone else") from exc
        # After the commit: the old address hears of the move and can undo it (a forwarded issue's
        # preferences link must not move a subscription away silently). A failure never undoes the move.
        try:
            self._notify(old, f"Your subscription to {self._settings.list_name} has moved", CHANGED_TEXT,
                         old_email=old, new_email=new_email,
                         undo_url=self._links.undo_email_change(subscriber_id, old, new_email))
        except (EmailChangeNotSent, TemplateError) as exc:
            log.warning("change-of-address notice for subscriber %s not sent: %s", subscriber_id, exc)
        return view

    def undo_email_change(self, subscriber_id: int, old_email: str, new_email: str) -> ReaderPreferences:
        """Move a subscription back to ``old_email`` (the undo link sent there names both addresses)."""
        try:
            with self._sessions.begin() as session:
                subscriber = session.get(Subscriber, subscriber_id)
                if subscriber is not None and subscriber.email == old_email:
                    return _view(subscriber, utcnow())  # followed twice: already done
                if subscriber is None or subscriber.email != new_email:
                    raise InvalidToken("this link is no longer valid: the address has changed again since")
                if self._suppression.suppressed(session, [old_email]):
                    raise InvalidToken(f"we can no longer send to {old_email}")
                subscriber.email = old_email
                subscriber.pending_email = None
                record_event(session, subscriber.id, SubscriberEventKind.STATUS_CHANGED,
                             f"address moved back from {new_email} to {old_email} by the link sent to the old address")
                session.flush()
                return _view(subscriber, utcnow())
        except IntegrityError as exc:
            raise InvalidToken(f"{old_email} has been subscribed again since, so there is nothing to move back") from exc

    # -- helpers

    def _reader(self, session: Session, subscriber_id: int, lock: bool = False) -> Subscriber:
        # lock: the row stays locked (PostgreSQL) so two requests at once can't both take the last mail.
        subscriber = session.get(Subscriber, subscriber_id, with_for_update=True if lock else None)
        if subscriber is None:
            raise SubscriberNotFound("there is no subscription for this link any more")
        return subscriber

    def _subscribed(self, session: Session, subscriber_id: int, lock: bool = False) -> Subscriber:
        subscriber = self._reader(session, subscriber_id, lock)
        if subscriber.status is not SubscriberStatus.ACTIVE:
            raise NotSubscribed(f"you are not subscribed (your subscription is {subscriber.status.value})")
        return subscriber

    def _usable(self, session: Session, address: str) -> bool:
        try:
            self._check_free(session, address)
        except InvalidPreference:
            return False
        return True

    def _check_free(self, session: Session, address: str) -> None:
        if self._suppression.suppressed(session, [address]):
            raise InvalidPreference(
                "email", "we cannot send to that address (it bounced, complained or asked to be forgotten)"
            )
        if session.scalar(select(Subscriber.id).where(Subscriber.email == address)) is not None:
            raise InvalidPreference("email", "that address is already on our list; use a different one")

    def _notify(self, address: str, subject: str, template: str, **context: str) -> None:
        """A plain-text notice to a reader's address; EmailChangeNotSent if the mail server did not take it."""
        profile = load_profile(self._sessions, self._settings)
        text = render_notice(self._settings, profile, template, **context)
        message_id, data = build_simple_message(effective_settings(self._settings, profile), to_email=address,
                                                to_name="", subject=subject, text=text, html=None)
        try:
            result = send_one_off(self._backend, self._settings, address, message_id, data)
        except BackendError as exc:
            raise EmailChangeNotSent(f"could not send the email: {exc}") from exc
        if result.status is not SendStatus.SENT:
            raise EmailChangeNotSent(f"the mail server refused the email: {result.code} {result.reply}")
