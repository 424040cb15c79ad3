"""Several newsletters: two lists with different readers, sends, unsubscribes and the catalog."""

from __future__ import annotations

import email
import email.policy

import pytest
from sqlalchemy import select

from newsletter.delivery.dispatch import Worker
from newsletter.delivery.models import Delivery
from newsletter.issues.compose import Week, compose
from newsletter.issues.listing import send_count
from newsletter.lists.catalog import all_lists, create_list, list_by_slug
from newsletter.lists.errors import InvalidList, SlugTaken, UnknownList
from newsletter.lists.models import FIRST_LIST_ID, Subscription, SubscriptionStatus
from newsletter.content.sources import add_source
from newsletter.content.models import Article
from newsletter.readers.models import Subscriber, SubscriberStatus
from newsletter.services import Services
from tests.factories import add_article, add_subscribers

WEEK = Week(2026, 48)
IN_WEEK = WEEK.bounds(__import__("zoneinfo").ZoneInfo("Europe/London"))[0].replace(hour=12)


def _source_article(services: Services, title: str, source_id: int) -> None:
    add_article(services.sessions, title, IN_WEEK)
    with services.sessions.begin() as session:
        article = session.scalars(select(Article).where(Article.title == title)).one()
        article.source_id = source_id


def _queued(services: Services, issue_id: int) -> set[str]:
    with services.sessions() as session:
        return set(session.scalars(select(Subscriber.email).join(Delivery, Delivery.subscriber_id == Subscriber.id)
                                   .where(Delivery.issue_id == issue_id)))


def test_a_list_is_created_with_a_slug_from_its_name_and_bad_input_changes_nothing(services: Services) -> None:
    made = create_list(services.sessions, "  Tech   Notes! ", from_address="Tech <tech@example.org>")
    assert made.slug == "tech-notes" and made.name == "Tech Notes!" and made.from_address == "Tech <tech@example.org>"
    assert list_by_slug(services.sessions, "tech-notes").id == made.id
    with pytest.raises(SlugTaken):
        create_list(services.sessions, "Tech notes")
    for name, slug, sender in [("", None, None), ("Ok", "Bad Slug", None), ("Ok", "x" * 61, None),
                               ("Ok", "ok", "not an address"), ("Two\nlines", None, None)]:
        with pytest.raises(InvalidList):
            create_list(services.sessions, name, slug, sender)
    with pytest.raises(UnknownList, match="unknown list: nope"):
        list_by_slug(services.sessions, "nope")
    assert [item.slug for item in all_lists(services.sessions)] == ["the-weekly-briefing", "tech-notes"]


def test_queuing_list_b_reaches_exactly_its_active_readers_and_list_a_stays_its_own(services: Services) -> None:
    b = create_list(services.sessions, "Tech Notes")
    add_subscribers(services.sessions, 2, prefix="a-only")  # the first list
    add_subscribers(services.sessions, 2, prefix="b-only", list_id=b.id)
    add_subscribers(services.sessions, 1, SubscriberStatus.UNSUBSCRIBED, prefix="b-gone", list_id=b.id)
    add_subscribers(services.sessions, 1, SubscriberStatus.PENDING, prefix="b-pending", list_id=b.id)
    both = services.subscriptions.add_subscriber("both@example.net", confirmed=True, source="cli")
    services.subscriptions.add_subscriber("both@example.net", confirmed=True, source="cli", list_id=b.id)
    left_b = add_subscribers(services.sessions, 1, prefix="b-left", list_id=b.id)[0]
    services.subscriptions.unsubscribe(left_b, list_id=b.id)

    source = add_source(services.sessions, "https://feeds.example.org/tech.xml", list_id=b.id)
    _source_article(services, "A tech piece", source.id)
    add_article(services.sessions, "A first-list piece", IN_WEEK)  # no source: the first list's

    issue_b = compose(services.sessions, services.settings, WEEK, list_id=b.id)
    issue_a = compose(services.sessions, services.settings, WEEK)
    assert issue_b.issue_id != issue_a.issue_id and issue_b.week == issue_a.week  # a week per list
    assert issue_b.article_count == 1 and issue_b.subject.startswith("Tech Notes #")
    assert issue_a.article_count == 1 and issue_a.subject.startswith("The Test Briefing #")

    # What the send page says before sending is what the send queues, for each list.
    assert send_count(services.sessions, issue_b.issue_id) == 3
    assert send_count(services.sessions, issue_a.issue_id) == 3
    services.publisher.queue(issue_b.issue_id, force=True)
    assert _queued(services, issue_b.issue_id) == {"b-only0@example.net", "b-only1@example.net", "both@example.net"}
    services.publisher.queue(issue_a.issue_id, force=True)
    assert _queued(services, issue_a.issue_id) == {"a-only0@example.net", "a-only1@example.net", "both@example.net"}

    Worker(services.store, services.backend, services.settings, services.links).run(drain=True)
    sent = {m.recipient: email.message_from_bytes(m.data, policy=email.policy.default)
            for m in services.backend.sent}  # type: ignore[attr-defined]
    assert sent["b-only0@example.net"]["From"] == "Tech Notes <briefing@example.org>"
    assert sent["a-only0@example.net"]["From"] == "The Test Briefing <briefing@example.org>"
    # B's unsubscribe links name B: leaving it keeps the first list.
    assert "/tech-notes>" in sent["b-only0@example.net"]["List-Unsubscribe"]
    assert "/tech-notes" not in sent["a-only0@example.net"]["List-Unsubscribe"]
    assert both.id


def test_unsubscribing_from_b_keeps_a_and_leaving_the_last_list_unsubscribes_the_reader(services: Services) -> None:
    b = create_list(services.sessions, "Tech Notes")
    reader = services.subscriptions.add_subscriber("ana@example.org", confirmed=True, source="cli")
    services.subscriptions.add_subscriber("ana@example.org", confirmed=True, source="cli", list_id=b.id)

    after = services.subscriptions.unsubscribe(reader.id, list_id=b.id)
    assert after.status is SubscriberStatus.ACTIVE
    assert _subscriptions(services, reader.id) == {FIRST_LIST_ID: SubscriptionStatus.ACTIVE,
                                                   b.id: SubscriptionStatus.UNSUBSCRIBED}
    after = services.subscriptions.unsubscribe(reader.id)  # the first list's link
    assert after.status is SubscriberStatus.UNSUBSCRIBED
    # The editor sets them active again: they get back the lists they had.
    services.subscriptions.set_status(reader.id, SubscriberStatus.ACTIVE)
    assert set(_subscriptions(services, reader.id).values()) == {SubscriptionStatus.ACTIVE}


def _subscriptions(services: Services, subscriber_id: int) -> dict[int, SubscriptionStatus]:
    with services.sessions() as session:
        return {row.list_id: row.status for row in session.scalars(
            select(Subscription).where(Subscription.subscriber_id == subscriber_id))}
