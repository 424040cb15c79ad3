"""A reader's preferences on both databases: pause (and its end), change of address, time zone."""

from __future__ import annotations

import email
import email.policy
import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from newsletter.mail.backends.memory import MemoryBackend
from newsletter.issues.compose import compose
from newsletter.readers.history import HistoryEvent, subscriber_history
from newsletter.db.base import utcnow
from newsletter.delivery.models import Delivery
from newsletter.issues.models import Issue
from newsletter.readers.models import Subscriber, SubscriberEventKind
from newsletter.readers.preferences import MAX_EMAIL_CHANGES, InvalidPreference, NotSubscribed, Preferences
from newsletter.services import Services
from newsletter.mail.tokens import InvalidToken
from tests.factories import add_article


@pytest.fixture
def prefs(services: Services) -> Preferences:
    return Preferences(services.sessions, services.settings, services.backend, services.links, services.suppression)


def reader(services: Services, address: str, name: str = "") -> int:
    subscriber, _ = services.subscriptions.add(address, name)
    return subscriber.id


def queued_for(services: Services) -> set[str]:
    """Queue a new issue the way every send does, and return the addresses it was queued for."""
    with services.sessions.begin() as session:
        number = (session.scalar(select(func.max(Issue.number))) or 0) + 1
        issue = Issue(number=number, subject=f"Issue {number}")
        session.add(issue)
        session.flush()
        issue_id = issue.id
    services.store.enqueue(issue_id)
    with services.sessions() as session:
        query = select(Subscriber.email).join(Delivery, Delivery.subscriber_id == Subscriber.id)
        return set(session.scalars(query.where(Delivery.issue_id == issue_id)))


def sent_to(services: Services, address: str) -> list[str]:
    """The plain-text parts of what the memory backend sent to ``address``."""
    backend = services.backend
    assert isinstance(backend, MemoryBackend)
    texts = []
    for message in backend.sent:
        if message.recipient == address:
            parsed = email.message_from_bytes(message.data, policy=email.policy.default)
            part = parsed.get_body(preferencelist=("plain",))
            assert part is not None
            texts.append(part.get_content())
    return texts


def test_a_paused_reader_is_left_out_of_the_next_send(services: Services, prefs: Preferences) -> None:
    ana, _ = reader(services, "ana@example.org"), reader(services, "bo@example.org")
    view = prefs.pause(ana, 2)
    assert view.paused_until is not None
    assert timedelta(days=13) < view.paused_until - utcnow() <= timedelta(days=14)
    assert queued_for(services) == {"bo@example.org"}
    [event, *_] = subscriber_history_events(services, ana)
    assert event.kind is SubscriberEventKind.STATUS_CHANGED and "paused by the reader for 2 weeks" in event.detail


def test_a_pause_ends_by_itself(services: Services, prefs: Preferences) -> None:
    ana = reader(services, "ana@example.org")
    prefs.pause(ana, 2, now=utcnow() - timedelta(weeks=3))  # paused three weeks ago, for two
    assert prefs.get(ana).paused_until is None
    assert queued_for(services) == {"ana@example.org"}


def test_resume_now(services: Services, prefs: Preferences) -> None:
    ana = reader(services, "ana@example.org")
    prefs.pause(ana, 12)
    assert prefs.resume(ana).paused_until is None
    assert queued_for(services) == {"ana@example.org"}


@pytest.mark.parametrize("weeks", [0, 13, -1])
def test_pause_is_one_to_twelve_weeks(services: Services, prefs: Preferences, weeks: int) -> None:
    ana = reader(services, "ana@example.org")
    with pytest.raises(InvalidPreference, match="between 1 and 12") as caught:
        prefs.pause(ana, weeks)
    assert caught.value.field == "weeks"
    assert prefs.get(ana).paused_until is None


def test_a_reader_who_left_cannot_pause(services: Services, prefs: Preferences) -> None:
    ana = reader(services, "ana@example.org")
    prefs.pause(ana, 3)
    services.subscriptions.unsubscribe(ana)
    with pytest.raises(NotSubscribed):
        prefs.pause(ana, 2)
    assert prefs.get(ana).paused_until is None  # the pause went with the subscription


def test_change_of_address_waits_for_the_new_address_to_confirm(services: Services, prefs: Preferences) -> None:
    ana = reader(services, "ana@example.org", "Ana")
    view = prefs.request_email_change(ana, "Ana.New@Example.org")
    assert view.email == "ana@example.org" and view.pending_email == "ana.new@example.org"
    [text] = sent_to(services, "ana.new@example.org")
    assert sent_to(services, "ana@example.org") == []
    # Until the link is followed, the old address keeps receiving.
    assert queued_for(services) == {"ana@example.org"}

    match = re.search(r"http://newsletter\.test/preferences/confirm/(\S+)", text)
    assert match, text
    subscriber_id, new = services.tokens.read_confirm(match.group(1))
    done = prefs.confirm_email_change(subscriber_id, new)
    assert done.email == "ana.new@example.org" and done.pending_email is None
    assert queued_for(services) == {"ana.new@example.org"}
    kinds = [e.detail for e in subscriber_history_events(services, ana)]
    assert "address changed by the reader from ana@example.org to ana.new@example.org (confirmed)" in kinds
    # Following the link again changes nothing and is no error.
    assert prefs.confirm_email_change(subscriber_id, new).email == "ana.new@example.org"


def test_an_older_change_link_stops_working(services: Services, prefs: Preferences) -> None:
    ana = reader(services, "ana@example.org")
    prefs.request_email_change(ana, "first@example.org")
    prefs.request_email_change(ana, "second@example.org")
    with pytest.raises(InvalidToken, match="no longer valid"):
        prefs.confirm_email_change(ana, "first@example.org")
    assert prefs.get(ana).email == "ana@example.org"


@pytest.mark.parametrize(
    ("new", "message"),
    [
        # A taken or suppressed address is not refused here: see tests/readers/test_change_of_address.py.
        ("ana@example.org", "already the address"),
        ("not-an-address", "check the address"),
    ],
)
def test_unusable_new_addresses_are_refused(services: Services, prefs: Preferences, new: str, message: str) -> None:
    ana = reader(services, "ana@example.org")
    with pytest.raises(InvalidPreference, match=message) as caught:
        prefs.request_email_change(ana, new)
    assert caught.value.field == "email"
    assert prefs.get(ana).pending_email is None
    assert sent_to(services, new.lower()) == []


def test_an_address_taken_before_the_link_is_followed_is_refused(services: Services, prefs: Preferences) -> None:
    ana = reader(services, "ana@example.org")
    prefs.request_email_change(ana, "new@example.org")
    reader(services, "new@example.org")  # someone subscribed it meanwhile
    with pytest.raises(InvalidToken, match="already on our list"):
        prefs.confirm_email_change(ana, "new@example.org")
    assert prefs.get(ana).email == "ana@example.org"


def test_change_of_address_mails_are_capped(services: Services, prefs: Preferences) -> None:
    ana = reader(services, "ana@example.org")
    for n in range(MAX_EMAIL_CHANGES):
        prefs.request_email_change(ana, f"victim{n}@example.org")
    with pytest.raises(InvalidPreference, match="sent several emails about a change of address today"):
        prefs.request_email_change(ana, "victim-again@example.org")
    assert sent_to(services, "victim-again@example.org") == []


def test_time_zone_is_used_by_local_time_waves(services: Services, prefs: Preferences) -> None:
    ana, _ = reader(services, "ana@example.org"), reader(services, "bo@example.org")
    assert prefs.set_time_zone(ana, "America/New_York").time_zone == "America/New_York"
    add_article(services.sessions, "A piece")
    issue_id = compose(services.sessions, services.settings).issue_id
    assert services.store.enqueue(issue_id, zones=["America/New_York"], default_zone="Europe/London") == 1
    with services.sessions() as session:
        [queued] = session.scalars(select(Delivery.subscriber_id).where(Delivery.issue_id == issue_id))
    assert queued == ana
    assert prefs.set_time_zone(ana, "").time_zone is None  # back to the list's zone


@pytest.mark.parametrize("zone", ["Mars/Olympus_Mons", "../../etc/passwd", "x" * 500])
def test_unknown_time_zones_are_refused(services: Services, prefs: Preferences, zone: str) -> None:
    ana = reader(services, "ana@example.org")
    with pytest.raises(InvalidPreference, match="choose a time zone") as caught:
        prefs.set_time_zone(ana, zone)
    assert caught.value.field == "time_zone"
    assert prefs.get(ana).time_zone is None


def subscriber_history_events(services: Services, subscriber_id: int) -> list[HistoryEvent]:
    with services.sessions() as session:
        return list(subscriber_history(session, subscriber_id).events)
