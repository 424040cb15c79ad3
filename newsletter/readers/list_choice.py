"""The reader chooses their lists on the preferences page: a box per list, checked = subscribed.

The signed preferences link proves the mailbox, so a list ticked there is joined at once (no
confirmation email), and a list someone else asked for on the reader's behalf (a pending
subscription) is theirs once they tick it, gone once they save without it. Leaving every list
is unsubscribing, as the unsubscribe link does.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from newsletter.lists import membership
from newsletter.lists.models import MailingList, Subscription, SubscriptionStatus
from newsletter.readers.history import SubscriberNotFound
from newsletter.readers.models import Subscriber, SubscriberStatus
from newsletter.readers.preferences import InvalidPreference, NotSubscribed
from newsletter.readers.leaving import end_standing

MAX_CHOICES = 500  # far more lists than any installation has; bounds the work on a hostile post
VIA = "via the preferences page"


@dataclass(frozen=True)
class ListChoice:
    id: int
    name: str
    subscribed: bool  # an active subscription (a pending one is not checked until the reader ticks it)


def reader_lists(sessions: sessionmaker[Session], subscriber_id: int) -> list[ListChoice]:
    """Every list, first list first, and whether the reader gets it."""
    with sessions() as session:
        active = set(membership.active_lists(session, subscriber_id))
        return [ListChoice(row.id, row.name, row.id in active)
                for row in session.scalars(select(MailingList).order_by(MailingList.id))]


def parse_choices(values: list[str]) -> set[int]:
    """The list ids a posted form ticked (InvalidPreference for anything else)."""
    if len(values) > MAX_CHOICES or not all(v.strip().isdigit() and len(v.strip()) <= 9 for v in values):
        raise InvalidPreference("lists", "choose from the newsletters listed")
    return {int(v) for v in values}


def choose_lists(sessions: sessionmaker[Session], subscriber_id: int, chosen: set[int]) -> list[ListChoice]:
    """Subscribe the reader to exactly the ``chosen`` lists; none chosen unsubscribes them.

    Only a subscribed reader chooses (NotSubscribed); an id that is not a list is refused before
    anything changes (InvalidPreference).
    """
    with sessions.begin() as session:
        reader = session.get(Subscriber, subscriber_id, with_for_update=True)
        if reader is None:
            raise SubscriberNotFound("there is no subscription for this link any more")
        if reader.status is not SubscriberStatus.ACTIVE:
            raise NotSubscribed(f"you are not subscribed (your subscription is {reader.status.value})")
        lists = set(session.scalars(select(MailingList.id)))
        if not chosen <= lists:
            raise InvalidPreference("lists", "choose from the newsletters listed")
        if not chosen:
            end_standing(session, reader, VIA)
        else:
            had = {row.list_id: row.status for row in session.scalars(
                select(Subscription).where(Subscription.subscriber_id == subscriber_id))}
            for list_id in sorted(lists):
                if list_id in chosen:
                    membership.join(session, subscriber_id, list_id)
                elif list_id in had and had[list_id] is not SubscriptionStatus.UNSUBSCRIBED:
                    membership.leave(session, subscriber_id, list_id)
    return reader_lists(sessions, subscriber_id)
