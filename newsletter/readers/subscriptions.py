"""Readers joining and leaving: double opt-in, confirmation, one-click unsubscribe, editor adds.

`Subscriptions.add_subscriber` is the one rulebook for an editor adding a reader, whatever the
entry point (the admin form, the JSON API, `newsletter subscribers add`): it returns one
`AddResult`, or raises `InvalidAddress` / `SubscriberSuppressed` (and `ConfirmationNotSent`).

How many confirmation emails an address gets is one rule, `welcome.MailAllowance`, for every
sign-up (the web form, the API, the admin, `subscribe@`, imports) and the change-of-address mails.
"""

from __future__ import annotations

import enum
import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from newsletter.errors import Conflict, Unavailable
from newsletter.readers.addresses import InvalidAddress, clean_name, normalise_email
from newsletter.mail.backends import Backend
from newsletter.config import Settings
from newsletter.readers.history import SubscriberNotFound, notify_readers, record_event
from newsletter.mail.links import Links
from newsletter.db.base import utcnow
from newsletter.lists import membership
from newsletter.lists.models import FIRST_LIST_ID
from newsletter.readers.models import Subscriber, SubscriberEventKind, SubscriberStatus
from newsletter.mail.signed_addresses import CONFIRM, SignedAddresses
from newsletter.readers.suppression import SuppressionList
from newsletter.readers.leaving import end_subscription
from newsletter.mail.tokens import InvalidToken
from newsletter.readers.welcome import (  # the confirmation's rules, kept importable from here
    CONFIRMATION_WINDOW as CONFIRMATION_WINDOW,
    MAX_CONFIRMATIONS as MAX_CONFIRMATIONS,
    ConfirmationNotSent as ConfirmationNotSent,
    Welcome,
    mail_confirmation as mail_confirmation,
    signup_name,
    take_confirmation,
)

log = logging.getLogger(__name__)

# How each sign-up source reads in a reader's history.
SOURCE_WORDS = {
    "web": "via the web form",
    "email": "by email to the subscribe address",
    "cli": "by the editor (command line)",
    "admin": "by the editor",
    "import": "by CSV import",
    "api": "through the API",
}

# The statuses an editor may set by hand (the admin page); bounced and complained come from mail.
EDITOR_STATUSES = (SubscriberStatus.ACTIVE, SubscriberStatus.UNSUBSCRIBED)


def source_words(source: str) -> str:
    return SOURCE_WORDS.get(source, f"via {source}")


class SubscribeOutcome(str, enum.Enum):
    CONFIRMATION_SENT = "confirmation_sent"
    ALREADY_SUBSCRIBED = "already_subscribed"
    TOO_MANY_CONFIRMATIONS = "too_many_confirmations"
    SUPPRESSED = "suppressed"


@dataclass(frozen=True)
class SubscribeResult:
    subscriber_id: int
    outcome: SubscribeOutcome
    created: bool = False  # this sign-up made the reader


class AddOutcome(str, enum.Enum):
    """What an editor's add did (the API's ``outcome``)."""

    ADDED = "added"  # a new reader, active at once (the editor says they agreed)
    EXISTING = "existing"  # an opted-in add of an address already on the list: nothing changed
    CONFIRMATION_SENT = "confirmation_sent"  # pending, the double opt-in email went out
    ALREADY_SUBSCRIBED = "already_subscribed"  # a double opt-in add of an active reader: nothing changed
    TOO_MANY_CONFIRMATIONS = "too_many_confirmations"  # pending, but this address had its 3 emails


@dataclass(frozen=True)
class AddResult:
    """The reader after an editor's add, and what the add did."""

    id: int
    email: str
    name: str
    status: SubscriberStatus
    created_at: datetime
    confirmed_at: datetime | None
    outcome: AddOutcome
    created: bool  # whether this add made the reader

    @property
    def changed(self) -> bool:
        """Whether the add did anything (a new reader, or a confirmation email sent)."""
        return self.outcome in (AddOutcome.ADDED, AddOutcome.CONFIRMATION_SENT)


class SubscriberSuppressed(Conflict):
    """The address bounced, complained or was erased: it is never added or mailed again."""

    def __init__(self, address: str) -> None:
        super().__init__(f"{address} is on the suppression list (it bounced, complained or was erased)")
        self.address = address


class StatusChangeRefused(Conflict):
    """An editor's status change that would break a rule (e.g. re-activating a suppressed address)."""


def apply_status(session: Session, suppression: SuppressionList | None, subscriber: Subscriber,
                 status: SubscriberStatus, by: str) -> None:
    """An editor's change of a reader's status, recorded; a suppressed address (hard bounce,
    complaint) is never re-activated (StatusChangeRefused)."""
    old = subscriber.status
    if status is SubscriberStatus.ACTIVE:
        if suppression is not None and suppression.suppressed(session, [subscriber.email]):
            raise StatusChangeRefused(
                f"{subscriber.email} is on the suppression list (it bounced or complained); it stays {old.value}"
            )
        subscriber.confirmed_at = subscriber.confirmed_at or utcnow()
        subscriber.unsubscribed_at = None
        membership.restore(session, subscriber.id)  # back on the lists they had
    else:
        subscriber.unsubscribed_at = utcnow()
    subscriber.status = status
    record_event(session, subscriber.id, SubscriberEventKind.STATUS_CHANGED, f"{old.value} -> {status.value}, set by {by}")
    if status is SubscriberStatus.UNSUBSCRIBED and old in (SubscriberStatus.ACTIVE, SubscriberStatus.PENDING):
        # The history keeps "status_changed"; an integrator hears that the reader left.
        notify_readers(session, SubscriberEventKind.UNSUBSCRIBED, [(subscriber.id, f"set by {by}")])


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
        self._welcome = Welcome(sessions, settings, backend, links)

    def subscribe(
        self, email: str, name: str = "", source: str = "web", *, now: datetime | None = None,
        list_id: int = FIRST_LIST_ID,
    ) -> SubscribeResult:
        """Start double opt-in to a list. The same address twice never makes two subscribers.

        Anyone can type an address, so a public sign-up never subscribes anyone by itself: the
        subscription is pending until the mailbox confirms (`confirm`), for a new reader and for an
        active reader joining another list alike; the confirmation email names the list. An
        active reader already on the list and a suppressed address are sent nothing. An address
        that had its MAX_CONFIRMATIONS emails in the last CONFIRMATION_WINDOW is sent nothing
        either, and nothing is changed (TOO_MANY_CONFIRMATIONS). A reader who is not active
        (new, pending, left, bounced) is pending until they confirm, as with a single list.
        """
        now = now or utcnow()
        address = normalise_email(email)
        typed = signup_name(name)
        with self._sessions.begin() as session:
            if self._is_suppressed(session, address):
                # Never mailed again, not even a confirmation; the form shows the usual page.
                return SubscribeResult(0, SubscribeOutcome.SUPPRESSED)
            subscriber, created = _get_or_create(session, address, typed, source, lock=True)
            if subscriber.status is SubscriberStatus.ACTIVE:
                if membership.is_active(session, subscriber.id, list_id):
                    return SubscribeResult(subscriber.id, SubscribeOutcome.ALREADY_SUBSCRIBED)
                if not take_confirmation(subscriber, now):
                    return SubscribeResult(subscriber.id, SubscribeOutcome.TOO_MANY_CONFIRMATIONS)
                # Their standing stays active; only this list waits on their confirmation.
                membership.ask(session, subscriber.id, list_id, now)
                subscriber_id = subscriber.id
            else:
                if not take_confirmation(subscriber, now):
                    return SubscribeResult(subscriber.id, SubscribeOutcome.TOO_MANY_CONFIRMATIONS)
                membership.ask(session, subscriber.id, list_id, now)
                if typed and subscriber.confirmed_at is None:
                    # Once a reader confirmed, their name is theirs: a stranger's sign-up never renames them.
                    subscriber.name = typed
                if created:
                    record_event(session, subscriber.id, SubscriberEventKind.SUBSCRIBED,
                                 f"{source_words(source)}; awaiting confirmation")
                elif subscriber.status is not SubscriberStatus.PENDING:
                    record_event(session, subscriber.id, SubscriberEventKind.RESUBSCRIBED,
                                 f"{source_words(source)} (was {subscriber.status.value}); awaiting confirmation")
                subscriber.status = SubscriberStatus.PENDING
                subscriber_id = subscriber.id
        self._send_confirmation(subscriber_id, address, list_id)
        return SubscribeResult(subscriber_id, SubscribeOutcome.CONFIRMATION_SENT, created)

    def subscribe_later(self, email: str, name: str = "", source: str = "web", list_id: int = FIRST_LIST_ID) -> None:
        """`subscribe` for a public form that has already answered (run after its response): the
        outcome goes to the log only, so neither the page nor its timing tells who is on the list."""
        try:
            result = self.subscribe(email, name, source, list_id=list_id)
        except (InvalidAddress, Unavailable) as exc:  # incl. ConfirmationNotSent: the reader may ask again
            log.warning("sign-up %s not completed: %s", source_words(source), exc)
            return
        log.info("sign-up %s: %s (subscriber %s)", source_words(source), result.outcome.value, result.subscriber_id)

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

    def erase_subscriber(self, subscriber_id: int) -> str:
        """``erase`` by id; returns the erased address. Raises SubscriberNotFound."""
        with self._sessions() as session:
            email = session.scalar(select(Subscriber.email).where(Subscriber.id == subscriber_id))
        if email is None:
            raise SubscriberNotFound(f"there is no subscriber {subscriber_id}")
        self.erase(email)
        return email

    def send_confirmation(self, subscriber_id: int, now: datetime | None = None,
                          list_id: int = FIRST_LIST_ID) -> bool:
        """Mail a pending reader the confirmation link (naming ``list_id``); False when the address
        had its MAX_CONFIRMATIONS in the current window (or the reader is not pending)."""
        now = now or utcnow()
        with self._sessions.begin() as session:
            subscriber = session.get(Subscriber, subscriber_id, with_for_update=True)
            if subscriber is None or subscriber.status is not SubscriberStatus.PENDING:
                return False
            if not take_confirmation(subscriber, now):
                return False
            address = subscriber.email
        self._send_confirmation(subscriber_id, address, list_id)
        return True

    def _send_confirmation(self, subscriber_id: int, address: str, list_id: int = FIRST_LIST_ID) -> None:
        # Replying confirms too: the Reply-To names the reader with a signed token (inbound.py).
        reply_to = SignedAddresses(self._settings.secret_key, self._settings.mail_domain, CONFIRM).address(subscriber_id)
        mail_confirmation(self._sessions, self._settings, self._backend, self._links.confirm(subscriber_id, address),
                          address, headers={"Reply-To": reply_to}, list_id=list_id)

    def confirm(self, subscriber_id: int, email: str) -> Subscriber:
        """Activate a pending reader, and their pending subscriptions, from a verified confirmation
        token's contents (the link or the ``confirm+`` reply prove the mailbox). An active reader's
        confirmation activates the lists they asked to join since.

        The welcome email (when the editor turned it on) goes out once, on the activation itself,
        after it committed; confirming again sends nothing.
        """
        newly_confirmed = False
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
                # The address is proven: its confirmation emails start afresh (a later rejoin is never refused).
                subscriber.confirmations_sent, subscriber.confirmations_since = 0, None
                record_event(session, subscriber.id, SubscriberEventKind.CONFIRMED, "via the confirmation link")
                newly_confirmed = True
            membership.activate_pending(session, subscriber.id)
        if newly_confirmed:
            self._welcome.send(subscriber.id)  # logs its own failures; never fails the confirmation
        return subscriber

    def unsubscribe(self, subscriber_id: int, via: str = "via the unsubscribe link",
                    list_id: int | None = FIRST_LIST_ID) -> Subscriber:
        """Honoured at once; idempotent, so a second click or Gmail's POST changes nothing.

        Ends the reader's subscription to the list (every list when ``list_id`` is None); when no
        active subscription is left the reader is unsubscribed, as with a single list. ``via`` is
        how the reader asked, as their history shows it (e.g. "by email").
        """
        with self._sessions.begin() as session:
            subscriber = session.get(Subscriber, subscriber_id)
            if subscriber is None:
                raise InvalidToken("this unsubscribe link does not match a subscriber")
            end_subscription(session, subscriber, via, list_id)
            return subscriber

    def set_status(self, subscriber_id: int, status: SubscriberStatus, by: str = "the editor") -> Subscriber:
        """An editor sets a reader active or unsubscribed by hand; recorded as status_changed.

        Setting the status a reader already has changes nothing and records nothing. A suppressed
        address (hard bounce, complaint) is never re-activated.
        """
        if status not in EDITOR_STATUSES:
            allowed = ", ".join(s.value for s in EDITOR_STATUSES)
            raise StatusChangeRefused(f"an editor can only set a reader to {allowed}, not {status.value}")
        with self._sessions.begin() as session:
            subscriber = session.get(Subscriber, subscriber_id)
            if subscriber is None:
                raise SubscriberNotFound(f"there is no subscriber {subscriber_id}")
            if subscriber.status is not status:
                apply_status(session, self._suppression, subscriber, status, by)
            return subscriber

    def add_subscriber(self, email: str, name: str = "", *, confirmed: bool, source: str,
                       list_id: int = FIRST_LIST_ID) -> AddResult:
        """An editor adds a reader: the one set of rules for the admin form, the API and the CLI.

        The address is validated and normalised (`InvalidAddress`, also for an empty one); a
        suppressed address is refused (`SubscriberSuppressed`), even for a reader who is still
        listed (bounced, complained). ``confirmed`` (the reader agreed elsewhere): a new reader is
        active at once (ADDED), one already listed is left as they are (EXISTING). Otherwise double
        opt-in as on the public form: an active reader already on the list is left alone
        (ALREADY_SUBSCRIBED), anyone else gets a pending subscription to ``list_id`` and is mailed
        a confirmation (CONFIRMATION_SENT; `ConfirmationNotSent` if the mail server refused) unless
        the address had its three (TOO_MANY_CONFIRMATIONS). ``list_id`` defaults to the first list;
        a confirmed add does not change an existing reader's standing.
        """
        if not email.strip():
            raise InvalidAddress("enter the reader's email address")
        address = normalise_email(email)
        # Both paths look at the suppression list before anything else, so a listed reader whose
        # address is suppressed (bounced, complained) is refused as a new one would be.
        if confirmed:
            subscriber, created = self.add(address, name, source, list_id=list_id)
            return _add_result(subscriber, AddOutcome.ADDED if created else AddOutcome.EXISTING, created)
        result = self.subscribe(address, name, source, list_id=list_id)
        if result.outcome is SubscribeOutcome.SUPPRESSED:
            raise SubscriberSuppressed(address)
        with self._sessions() as session:
            reader = session.get(Subscriber, result.subscriber_id)
            if reader is None:  # erased in the meantime
                raise SubscriberNotFound(f"there is no subscriber {result.subscriber_id}")
            return _add_result(reader, AddOutcome(result.outcome.value), result.created)

    def add(self, email: str, name: str = "", source: str = "admin", *,
            list_id: int = FIRST_LIST_ID) -> tuple[Subscriber, bool]:
        """A reader who already agreed, active at once: the subscriber and whether it was created.

        Readers who unsubscribed, bounced or complained are not silently re-activated; a
        suppressed address is refused (`SubscriberSuppressed`). Entry points call `add_subscriber`.
        """
        address = normalise_email(email)
        with self._sessions.begin() as session:
            if self._is_suppressed(session, address):
                raise SubscriberSuppressed(address)
            subscriber, created = _get_or_create(session, address, clean_name(name), source)
            membership.join(session, subscriber.id, list_id)  # the editor says they agreed to this list
            if not created:
                return subscriber, False
            subscriber.status = SubscriberStatus.ACTIVE
            subscriber.confirmed_at = utcnow()
            record_event(session, subscriber.id, SubscriberEventKind.SUBSCRIBED,
                         f"added {source_words(source)}; active at once")
            return subscriber, True


def _add_result(subscriber: Subscriber, outcome: AddOutcome, created: bool) -> AddResult:
    return AddResult(subscriber.id, subscriber.email, subscriber.name, subscriber.status, subscriber.created_at,
                     subscriber.confirmed_at, outcome, created)


def _get_or_create(
    session: Session, address: str, name: str, source: str, *, lock: bool = False
) -> tuple[Subscriber, bool]:
    """The reader with this address, and whether this call created them. ``lock``: the row is
    locked (PostgreSQL) so two sign-ups at once cannot both take the last confirmation."""
    query = select(Subscriber).where(Subscriber.email == address)
    found = session.scalar(query.with_for_update() if lock else query)
    if found is not None:
        return found, False
    subscriber = Subscriber(email=address, name=name, source=source, status=SubscriberStatus.PENDING)
    try:
        # A savepoint, so losing a race with a concurrent sign-up keeps the outer transaction.
        with session.begin_nested():
            session.add(subscriber)
    except IntegrityError:
        found = session.scalar(select(Subscriber).where(Subscriber.email == address))
        assert found is not None
        return found, False
    return subscriber, True
