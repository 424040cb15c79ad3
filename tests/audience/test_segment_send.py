"""A send to a segment queues exactly the segment's active readers, in the one INSERT ... SELECT,
and the issue keeps its segment for later waves."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from newsletter.audience.errors import UnknownSegment
from newsletter.lists.errors import UnknownList
from newsletter.delivery.models import Delivery
from newsletter.issues.models import Issue
from newsletter.readers.models import Subscriber, SubscriberStatus
from newsletter.services import Services
from tests.factories import subscribed, this_weeks_issue


def add(services: Services, email: str, status: SubscriberStatus, *tags: str) -> None:
    with services.sessions.begin() as session:
        reader = Subscriber(email=email, status=status, source="test")
        session.add(reader)
        subscribed(session, reader)
    if tags:
        services.audience.tag(email, tags)


def queued_to(services: Services, issue: int) -> set[str]:
    with services.sessions() as session:
        return set(session.scalars(select(Subscriber.email).join(Delivery, Delivery.subscriber_id == Subscriber.id)
                                   .where(Delivery.issue_id == issue)))


@pytest.fixture
def readers(services: Services) -> Services:
    add(services, "vip@example.net", SubscriberStatus.ACTIVE, "vip")
    add(services, "vip2@example.net", SubscriberStatus.ACTIVE, "VIP", "press")
    add(services, "plain@example.net", SubscriberStatus.ACTIVE)
    add(services, "press@example.net", SubscriberStatus.ACTIVE, "press")
    for status in (SubscriberStatus.PENDING, SubscriberStatus.UNSUBSCRIBED, SubscriberStatus.BOUNCED,
                   SubscriberStatus.COMPLAINED):
        add(services, f"{status.value}@example.net", status, "vip")
    return services


def test_a_send_to_a_tag_segment_queues_exactly_its_active_readers(readers: Services) -> None:
    services = readers
    segment = services.audience.create_segment("VIPs", "the-weekly-briefing", {"tags": [{"match": "any", "tags": ["vip"]}]})
    assert segment.count == 2  # the pending, unsubscribed, bounced and complained ones are not counted
    issue = this_weeks_issue(services, "For the VIPs")
    result = services.publisher.queue(issue, force=True, segment_id=segment.id)
    assert result.queued == 2
    assert queued_to(services, issue) == {"vip@example.net", "vip2@example.net"}
    with services.sessions() as session:
        assert session.scalar(select(Issue.segment_id).where(Issue.id == issue)) == segment.id

    # A later wave (or a recovered send) adds only the segment's readers who joined since.
    add(services, "late-vip@example.net", SubscriberStatus.ACTIVE, "vip")
    add(services, "late-plain@example.net", SubscriberStatus.ACTIVE)
    assert services.publisher.queue_more(issue).queued == 1
    assert queued_to(services, issue) == {"vip@example.net", "vip2@example.net", "late-vip@example.net"}


def test_a_send_without_a_segment_still_reaches_every_active_reader(readers: Services) -> None:
    issue = this_weeks_issue(readers, "For everyone")
    assert readers.publisher.queue(issue, force=True).queued == 4
    assert queued_to(readers, issue) == {"vip@example.net", "vip2@example.net", "plain@example.net",
                                         "press@example.net"}


def test_none_and_all_segments(readers: Services) -> None:
    none = readers.audience.create_segment("not press", "the-weekly-briefing", {"tags": [{"match": "none", "tags": ["press"]}]})
    both = readers.audience.create_segment("vip press", "the-weekly-briefing", {"tags": [{"match": "all", "tags": ["vip", "press"]}]})
    assert (none.count, both.count) == (2, 1)
    issue = this_weeks_issue(readers, "Not for the press")
    readers.publisher.queue(issue, force=True, segment_id=none.id)
    assert queued_to(readers, issue) == {"vip@example.net", "plain@example.net"}


def test_an_unknown_segment_or_list_changes_nothing(readers: Services) -> None:
    issue = this_weeks_issue(readers, "Nobody")
    with pytest.raises(UnknownSegment):
        readers.publisher.queue(issue, force=True, segment_id=999)
    with readers.sessions() as session:
        assert session.scalar(select(Issue.status).where(Issue.id == issue)).value == "draft"
    assert queued_to(readers, issue) == set()
    with pytest.raises(UnknownList, match="unknown list: other"):
        readers.audience.create_segment("x", "other", {})
    assert readers.audience.segments() == []


def test_erasing_a_reader_takes_their_tags_and_fields_with_them(services: Services) -> None:
    from newsletter.audience.models import SubscriberField, SubscriberTag

    services.audience.define_field("age", "Age", "number")
    services.subscriptions.add_subscriber("gone@example.net", "", confirmed=True, source="test")
    reader = services.audience.tag("gone@example.net", ["vip"])
    services.audience.change(reader.subscriber_id, services.audience.check_change(None, {"age": "3"}, text=True))
    services.subscriptions.erase("gone@example.net")
    with services.sessions() as session:
        assert session.scalars(select(SubscriberTag)).all() == []
        assert session.scalars(select(SubscriberField)).all() == []
