"""The suppression list: addresses that are never mailed again, even after their data is erased.

Only a keyed hash of the normalised address is kept (HMAC-SHA256 with a key derived from the
secret key), so an erased reader leaves no address behind, yet cannot be imported back.

`unsuppress` is the one way off the list, for the owner (CLI, admin page and API alike): the
owner vouches for the address, so a bounced or complained reader is mailed again.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from newsletter.db.sql import insert_for
from newsletter.db.base import utcnow
from newsletter.errors import NotFound
from newsletter.readers.addresses import InvalidAddress, normalise_email
from newsletter.readers.history import SubscriberNotFound, record_event
from newsletter.readers.models import Subscriber, SubscriberEventKind, SubscriberStatus, Suppression

# Statuses the list put a reader in; lifting it undoes them. Unsubscribed and pending stay.
LIFTED = (SubscriberStatus.BOUNCED, SubscriberStatus.COMPLAINED)


class NotSuppressed(NotFound):
    """The address is not on the suppression list (and so there is nothing to lift)."""


class SuppressionList:
    def __init__(self, secret_key: str) -> None:
        # A key of its own, so these hashes reveal nothing about the link-signing key.
        self._key = hmac.new(secret_key.encode(), b"newsletter suppression list", hashlib.sha256).digest()

    def hash(self, email: str) -> str:
        return hmac.new(self._key, email.strip().lower().encode(), hashlib.sha256).hexdigest()

    def add(self, session: Session, emails: Iterable[str], reason: str) -> None:
        rows = [{"address_hash": self.hash(e), "reason": reason, "created_at": utcnow()} for e in emails]
        if not rows:
            return
        session.execute(insert_for(session)(Suppression).values(rows).on_conflict_do_nothing(index_elements=["address_hash"]))

    def suppressed(self, session: Session, emails: Iterable[str]) -> set[str]:
        """The given addresses that are on the list."""
        by_hash = {self.hash(e): e for e in emails}
        if not by_hash:
            return set()
        found = session.scalars(select(Suppression.address_hash).where(Suppression.address_hash.in_(by_hash)))
        return {by_hash[h] for h in found}

    def remove(self, session: Session, email: str) -> str | None:
        """Take the address off the list; the reason it was on it, or None if it was not."""
        return session.scalar(
            delete(Suppression).where(Suppression.address_hash == self.hash(email)).returning(Suppression.reason)
        )


@dataclass(frozen=True)
class Unsuppressed:
    """An address taken off the suppression list, and what became of its reader (if any)."""

    email: str
    reason: str  # why it was on the list: bounced, complained, erased, manual
    subscriber_id: int | None = None
    previous_status: SubscriberStatus | None = None
    status: SubscriberStatus | None = None

    def as_dict(self) -> dict[str, object]:
        return {
            "email": self.email, "unsuppressed": True, "reason": self.reason, "subscriber_id": self.subscriber_id,
            "previous_status": self.previous_status.value if self.previous_status else None,
            "status": self.status.value if self.status else None,
        }


def unsuppress(sessions: sessionmaker[Session], suppression: SuppressionList, *, email: str | None = None,
               subscriber_id: int | None = None, by: str) -> Unsuppressed:
    """Lift the suppression of an address (by ``email``) or of a reader's (by ``subscriber_id``).

    A bounced or complained reader becomes active again (pending if they never confirmed: the
    owner's word is not their opt-in); an unsubscribed or pending one keeps their status; an
    address with no reader is only taken off the list. Recorded in the reader's history as
    ``unsuppressed``. NotSuppressed if the address is not on the list; SubscriberNotFound for
    an unknown id.
    """
    with sessions.begin() as session:
        if subscriber_id is not None:
            reader = session.get(Subscriber, subscriber_id)
            if reader is None:
                raise SubscriberNotFound(f"there is no subscriber {subscriber_id}")
            address = reader.email
        else:
            address, reader = _find(session, email or "")
        reason = suppression.remove(session, address)
        if reason is None:
            raise NotSuppressed(f"{address or '(no address)'} is not on the suppression list")
        if reader is None:
            return Unsuppressed(address, reason)
        before = reader.status
        if before in LIFTED:
            reader.status = SubscriberStatus.ACTIVE if reader.confirmed_at else SubscriberStatus.PENDING
            reader.unsubscribed_at = None
        change = f"{before.value} -> {reader.status.value}" if reader.status is not before else f"stays {before.value}"
        record_event(session, reader.id, SubscriberEventKind.UNSUPPRESSED,
                     f"suppression ({reason}) lifted by {by}; {change}")
        return Unsuppressed(address, reason, reader.id, before, reader.status)


def _find(session: Session, email: str) -> tuple[str, Subscriber | None]:
    """The address as the list and the readers spell it, and its reader if there is one."""
    address = email.strip().lower()
    try:
        address = normalise_email(email)
    except InvalidAddress:
        pass  # an address stored before stricter checks: looked up as typed
    return address, session.scalar(select(Subscriber).where(Subscriber.email == address))
