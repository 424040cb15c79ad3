"""The editor's work on readers (newsletter/subscriber_admin.py) on SQLite and PostgreSQL: search and
filter, edits recorded in the history, refusals, and the CSV export of any search."""

from __future__ import annotations

import csv
import io

import pytest
from sqlalchemy import select

from newsletter.readers.addresses import InvalidAddress
from newsletter.readers.history import SubscriberNotFound, subscriber_history
from newsletter.readers.models import Subscriber, SubscriberEventKind, SubscriberStatus
from newsletter.services import Services
from newsletter.readers.roster import (
    DuplicateSubscriber,
    SubscriberFilter,
    export_csv,
    search_subscribers,
    update_subscriber,
)
from newsletter.readers.subscriptions import StatusChangeRefused
from tests.factories import add_subscribers


def test_search_by_address_or_name_with_a_status_filter_newest_first(services: Services) -> None:
    add_subscribers(services.sessions, 3)
    add_subscribers(services.sessions, 2, SubscriberStatus.UNSUBSCRIBED, prefix="gone")
    sessions = services.sessions
    everyone = search_subscribers(sessions, SubscriberFilter())
    assert everyone.total == 5 and everyone.rows[0].email == "gone1@example.net"  # the newest
    assert [r.email for r in search_subscribers(sessions, SubscriberFilter("GONE0@")).rows] == ["gone0@example.net"]
    by_name = search_subscribers(sessions, SubscriberFilter("reader 2"))
    assert [r.email for r in by_name.rows] == ["reader2@example.net"]
    left = search_subscribers(sessions, SubscriberFilter("", SubscriberStatus.UNSUBSCRIBED))
    assert left.total == 2 and all(r.status is SubscriberStatus.UNSUBSCRIBED for r in left.rows)
    assert search_subscribers(sessions, SubscriberFilter("%")).total == 0  # LIKE wildcards are literal
    page = search_subscribers(sessions, SubscriberFilter(), limit=2, offset=4)
    assert page.total == 5 and [r.email for r in page.rows] == ["reader0@example.net"]


def test_update_email_name_and_status_each_recorded(services: Services) -> None:
    [sid] = add_subscribers(services.sessions, 1)
    row = update_subscriber(services.sessions, services.suppression, sid, email=" Ana@Example.ORG ", name="Ana\nB",
                            status=SubscriberStatus.UNSUBSCRIBED)
    assert (row.email, row.name, row.status) == ("ana@example.org", "Ana B", SubscriberStatus.UNSUBSCRIBED)
    with services.sessions() as session:
        history = subscriber_history(session, sid)
    details = [e.detail for e in history.events if e.kind is SubscriberEventKind.STATUS_CHANGED]
    assert "address changed from reader0@example.net to ana@example.org by the editor" in details
    assert "active -> unsubscribed, set by the editor" in details and "name changed by the editor" in details
    # Nothing changed: nothing recorded.
    update_subscriber(services.sessions, services.suppression, sid, email="ana@example.org", name="Ana B")
    with services.sessions() as session:
        assert len(subscriber_history(session, sid).events) == len(history.events)


def test_update_refuses_duplicates_bad_and_suppressed_addresses(services: Services) -> None:
    first, second = add_subscribers(services.sessions, 2)
    update = update_subscriber
    with pytest.raises(DuplicateSubscriber, match="reader1@example.net is already a subscriber"):
        update(services.sessions, services.suppression, first, email="READER1@example.net")
    with pytest.raises(InvalidAddress, match="must have an @-sign"):
        update(services.sessions, services.suppression, first, email="nobody")
    with services.sessions.begin() as session:
        services.suppression.add(session, ["bounced@example.org", "reader1@example.net"], "bounced")
    with pytest.raises(InvalidAddress, match="on the suppression list"):
        update(services.sessions, services.suppression, first, email="bounced@example.org")
    update(services.sessions, services.suppression, second, status=SubscriberStatus.UNSUBSCRIBED)
    with pytest.raises(StatusChangeRefused, match="suppression list"):
        update(services.sessions, services.suppression, second, status=SubscriberStatus.ACTIVE)
    with pytest.raises(StatusChangeRefused, match="not bounced"):
        update(services.sessions, services.suppression, first, status=SubscriberStatus.BOUNCED)
    with pytest.raises(SubscriberNotFound):
        update(services.sessions, services.suppression, 999_999, name="x")
    with services.sessions() as session:  # a refused edit changed nothing, also not the name given with it
        assert session.scalar(select(Subscriber.email).where(Subscriber.id == first)) == "reader0@example.net"


def test_export_any_search_as_csv(services: Services) -> None:
    add_subscribers(services.sessions, 3)
    [evil] = add_subscribers(services.sessions, 1, SubscriberStatus.UNSUBSCRIBED, prefix="gone")
    update_subscriber(services.sessions, services.suppression, evil, name="=HYPERLINK(\"http://x\")")
    rows = list(csv.reader(io.StringIO("".join(export_csv(services.sessions, SubscriberFilter())))))
    assert rows[0] == ["email", "name", "status", "source", "created_at", "confirmed_at", "unsubscribed_at"]
    assert [r[0] for r in rows[1:]] == ["reader0@example.net", "reader1@example.net", "reader2@example.net",
                                        "gone0@example.net"]
    assert rows[4][1] == "'=HYPERLINK(\"http://x\")"  # never run as a formula by a spreadsheet
    left = list(csv.reader(io.StringIO("".join(
        export_csv(services.sessions, SubscriberFilter("", SubscriberStatus.UNSUBSCRIBED))))))
    assert [r[0] for r in left] == ["email", "gone0@example.net"] and left[1][2] == "unsubscribed"


def test_export_streams_past_one_chunk(services: Services) -> None:
    add_subscribers(services.sessions, 2100)
    lines = export_csv(services.sessions, SubscriberFilter("reader"))
    assert next(lines).startswith("email,")
    assert sum(1 for _ in lines) == 2100
