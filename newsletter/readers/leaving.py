"""A reader leaving, in the caller's transaction: one list's subscription, or their standing when
no list is left. The unsubscribe link, mail commands, the preferences page and a provider's event
all leave through here, so the rules are the same whatever the way out."""

from __future__ import annotations

from sqlalchemy.orm import Session

from newsletter.db.base import utcnow
from newsletter.lists import membership
from newsletter.readers.history import record_event
from newsletter.readers.models import Subscriber, SubscriberEventKind, SubscriberStatus


def end_subscription(session: Session, subscriber: Subscriber, via: str, list_id: int | None) -> bool:
    """Unsubscribe in the caller's transaction (the link, mail commands, a provider's event):
    the list's subscription ends (every list when ``list_id`` is None); with none left the reader
    is unsubscribed (``end_standing``). True when their standing changed."""
    if membership.leave(session, subscriber.id, list_id):
        return False  # still on other lists: their standing is unchanged
    was = subscriber.status
    end_standing(session, subscriber, via)
    return subscriber.status is not was


def end_standing(session: Session, subscriber: Subscriber, via: str) -> None:
    """The reader left their last list: they are unsubscribed (recorded), and nothing waits on
    them any more (a list they were asked to join, a pause, a change of address)."""
    membership.leave(session, subscriber.id, None)
    if subscriber.status in (SubscriberStatus.ACTIVE, SubscriberStatus.PENDING):
        record_event(session, subscriber.id, SubscriberEventKind.UNSUBSCRIBED, f"{via} (was {subscriber.status.value})")
        subscriber.status = SubscriberStatus.UNSUBSCRIBED
        subscriber.unsubscribed_at = utcnow()
        # A pause or a pending change of address does not outlive the subscription.
        subscriber.paused_until = None
        subscriber.pending_email = None
