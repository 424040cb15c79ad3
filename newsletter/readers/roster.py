"""The editor's work on readers: search with a status filter, edit one reader, export any search as CSV.

Shared by the admin pages, the JSON API and ``newsletter subscribers export``; raises domain errors
only (``SubscriberNotFound``, ``InvalidAddress``, ``DuplicateSubscriber``, ``StatusChangeRefused``).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, exists, func, or_, select
from sqlalchemy.orm import Session, sessionmaker

from newsletter.errors import Conflict
from newsletter.readers.addresses import InvalidAddress, clean_name, normalise_email
from newsletter.delivery.models import Delivery
from newsletter.readers.history import SubscriberHistory, SubscriberNotFound, record_event, subscriber_history
from newsletter.lists.models import Subscription
from newsletter.readers.models import Subscriber, SubscriberEventKind, SubscriberStatus
from newsletter.readers.subscriptions import EDITOR_STATUSES, StatusChangeRefused, apply_status
from newsletter.readers.suppression import SuppressionList

EXPORT_CHUNK = 1000
EXPORT_HEADER = ("email", "name", "status", "source", "created_at", "confirmed_at", "unsubscribed_at")
# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")

__all__ = [
    "DuplicateSubscriber",
    "InvalidAddress",
    "StatusChangeRefused",
    "SubscriberFilter",
    "SubscriberNotFound",
    "SubscriberPage",
    "SubscriberRow",
    "ReaderCard",
    "export_csv",
    "reader_card",
    "search_subscribers",
    "update_subscriber",
]


class DuplicateSubscriber(Conflict):
    """Another reader already has that address."""


@dataclass(frozen=True)
class SubscriberFilter:
    query: str = ""  # part of the address or the name, any case
    status: SubscriberStatus | None = None
    list_id: int | None = None  # only readers who have (or had) a subscription to this list


@dataclass(frozen=True)
class SubscriberRow:
    id: int
    email: str
    name: str
    status: SubscriberStatus
    created_at: datetime
    confirmed_at: datetime | None


@dataclass(frozen=True)
class SubscriberPage:
    total: int  # matching the filter, over all pages
    rows: list[SubscriberRow]


def _filtered(flt: SubscriberFilter) -> Select[Subscriber]:
    query = select(Subscriber)
    if flt.list_id is not None:
        query = query.where(exists().where(Subscription.list_id == flt.list_id,
                                           Subscription.subscriber_id == Subscriber.id))
    needle = flt.query.strip().lower()
    if needle:
        query = query.where(
            or_(
                func.lower(Subscriber.email).contains(needle, autoescape=True),
                func.lower(Subscriber.name).contains(needle, autoescape=True),
            )
        )
    if flt.status is not None:
        query = query.where(Subscriber.status == flt.status)
    return query


def _row(s: Subscriber) -> SubscriberRow:
    return SubscriberRow(s.id, s.email, s.name, s.status, s.created_at, s.confirmed_at)


def search_subscribers(
    sessions: sessionmaker[Session], flt: SubscriberFilter, limit: int = 50, offset: int = 0
) -> SubscriberPage:
    """Readers matching the filter, newest first: ``limit`` of them from ``offset``, and how many match."""
    query = _filtered(flt)
    with sessions() as session:
        total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
        found = session.scalars(
            query.order_by(Subscriber.created_at.desc(), Subscriber.id.desc()).offset(max(0, offset)).limit(max(0, limit))
        )
        return SubscriberPage(total, [_row(s) for s in found])


def update_subscriber(
    sessions: sessionmaker[Session],
    suppression: SuppressionList,
    subscriber_id: int,
    *,
    email: str | None = None,
    name: str | None = None,
    status: SubscriberStatus | None = None,
) -> SubscriberRow:
    """Change a reader's address, name and/or status in one transaction, each change in their history.

    A changed address is not re-confirmed here (sending a confirmation is the editor's own action);
    an address another reader has, or one on the suppression list, is refused.
    """
    if status is not None and status not in EDITOR_STATUSES:
        allowed = " or ".join(s.value for s in EDITOR_STATUSES)
        raise StatusChangeRefused(f"an editor can only set a reader to {allowed}, not {status.value}")
    address = normalise_email(email) if email is not None else None
    with sessions.begin() as session:
        subscriber = session.get(Subscriber, subscriber_id)
        if subscriber is None:
            raise SubscriberNotFound(f"there is no subscriber {subscriber_id}")
        if address is not None and address != subscriber.email:
            _change_email(session, suppression, subscriber, address)
        if name is not None and clean_name(name) != subscriber.name:
            record_event(session, subscriber.id, SubscriberEventKind.STATUS_CHANGED, "name changed by the editor")
            subscriber.name = clean_name(name)
        if status is not None and status is not subscriber.status:
            apply_status(session, suppression, subscriber, status, "the editor")
        session.flush()
        return _row(subscriber)


def _change_email(session: Session, suppression: SuppressionList, subscriber: Subscriber, address: str) -> None:
    taken = session.scalar(select(Subscriber.id).where(Subscriber.email == address, Subscriber.id != subscriber.id))
    if taken is not None:
        raise DuplicateSubscriber(f"{address} is already a subscriber (#{taken})")
    if suppression.suppressed(session, [address]):
        raise InvalidAddress(f"{address} is on the suppression list (it bounced, complained or was erased)")
    record_event(session, subscriber.id, SubscriberEventKind.STATUS_CHANGED,
                 f"address changed from {subscriber.email} to {address} by the editor")
    subscriber.email = address


def _cell(value: str) -> str:
    return "'" + value if value.startswith(FORMULA_START) else value


def _when(value: datetime | None) -> str:
    return value.isoformat() if value is not None else ""


def export_csv(sessions: sessionmaker[Session], flt: SubscriberFilter) -> Iterator[str]:
    """The matching readers as CSV lines (header first), oldest first, read a chunk at a time.

    Each chunk is its own short read (keyset on id), so a long download holds no transaction open.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")

    def line(values: tuple[str, ...]) -> str:
        buffer.seek(0)
        buffer.truncate()
        writer.writerow(values)
        return buffer.getvalue()

    yield line(EXPORT_HEADER)
    after = 0
    while True:
        with sessions() as session:
            chunk = list(
                session.scalars(_filtered(flt).where(Subscriber.id > after).order_by(Subscriber.id).limit(EXPORT_CHUNK))
            )
            rows = [
                (_cell(s.email), _cell(s.name), s.status.value, _cell(s.source), _when(s.created_at),
                 _when(s.confirmed_at), _when(s.unsubscribed_at))
                for s in chunk
            ]
        for values in rows:
            yield line(values)
        if len(chunk) < EXPORT_CHUNK:
            return
        after = chunk[-1].id


@dataclass(frozen=True)
class ReaderCard:
    """One reader as the editor looks them up: their history, whether the address is suppressed,
    and how many deliveries ended in each state."""

    history: SubscriberHistory
    suppressed: bool
    deliveries: dict[str, int]


def reader_card(
    sessions: sessionmaker[Session], suppression: SuppressionList, *, subscriber_id: int | None = None,
    email: str | None = None,
) -> ReaderCard:
    """By id or by address; raises SubscriberNotFound (saying so when the address is suppressed)."""
    with sessions() as session:
        if subscriber_id is None:
            address = normalise_email(email or "")
            subscriber_id = session.scalar(select(Subscriber.id).where(Subscriber.email == address))
            if subscriber_id is None:
                suppressed = bool(suppression.suppressed(session, [address]))
                raise SubscriberNotFound(f"{address} is not a subscriber" + (" (it is suppressed)" if suppressed else ""))
        history = subscriber_history(session, subscriber_id)
        counts = session.execute(
            select(Delivery.status, func.count()).where(Delivery.subscriber_id == subscriber_id)
            .group_by(Delivery.status)
        )
        return ReaderCard(
            history=history,
            suppressed=bool(suppression.suppressed(session, [history.email])),
            deliveries={status.value: n for status, n in counts},
        )
