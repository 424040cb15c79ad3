"""Queueing a send: the first wave (a plain INSERT on PostgreSQL) and later waves (ON CONFLICT DO
NOTHING) each add every active reader once, also when two run at once; the tally matches the rows,
and a reader deleted afterwards takes their deliveries along."""

from __future__ import annotations

from sqlalchemy import delete, func, select

from newsletter.delivery.models import Delivery
from newsletter.issues.compose import compose
from newsletter.issues.models import Issue, IssueStatus
from newsletter.readers.models import Subscriber, SubscriberStatus
from tests.factories import add_article, add_subscribers
from tests.issues.test_send_once import at_once


def draft_for(services, readers: int) -> int:
    add_article(services.sessions, "A piece")
    add_subscribers(services.sessions, readers)
    return compose(services.sessions, services.settings).issue_id


def per_reader(services, issue_id: int) -> dict[int, int]:
    """Deliveries of the issue per reader."""
    with services.sessions() as session:
        rows = session.execute(
            select(Delivery.subscriber_id, func.count()).where(Delivery.issue_id == issue_id)
            .group_by(Delivery.subscriber_id)
        ).all()
    return {subscriber_id: n for subscriber_id, n in rows}


def active_readers(services) -> set[int]:
    with services.sessions() as session:
        return set(session.scalars(select(Subscriber.id).where(Subscriber.status == SubscriberStatus.ACTIVE)))


def test_the_first_wave_queues_every_active_reader_once_and_later_waves_only_newcomers(services):
    issue_id = draft_for(services, 30)
    add_subscribers(services.sessions, 5, status=SubscriberStatus.UNSUBSCRIBED, prefix="gone")

    assert services.store.enqueue(issue_id) == 30
    assert services.store.enqueue_more(issue_id) == 0  # again: nobody twice
    add_subscribers(services.sessions, 4, prefix="late")
    assert services.store.enqueue_more(issue_id) == 4

    counts = per_reader(services, issue_id)
    assert set(counts) == active_readers(services) and set(counts.values()) == {1}
    assert services.store.counts(issue_id)["queued"] == 34


def test_two_waves_at_once_on_a_send_with_nobody_queued_yet_add_each_reader_once(services):
    issue_id = draft_for(services, 40)
    # A local-time send whose first zone has nobody: sending, and no delivery yet.
    assert services.store.enqueue(issue_id, zones=["Pacific/Nowhere"], default_zone="Europe/London") == 0

    results = at_once([lambda: services.store.enqueue_more(issue_id)] * 3)

    assert sorted(results, key=str) == [0, 0, 40], results
    counts = per_reader(services, issue_id)
    assert len(counts) == 40 and set(counts.values()) == {1}
    assert services.store.counts(issue_id)["queued"] == 40
    with services.sessions() as session:
        assert session.scalar(select(Issue.status).where(Issue.id == issue_id)) is IssueStatus.SENDING


def test_a_reader_deleted_after_the_send_is_queued_takes_their_delivery_along(services):
    issue_id = draft_for(services, 10)
    assert services.store.enqueue(issue_id) == 10
    leaving = min(per_reader(services, issue_id))

    with services.sessions.begin() as session:
        session.execute(delete(Subscriber).where(Subscriber.id == leaving))

    counts = per_reader(services, issue_id)
    assert leaving not in counts and len(counts) == 9
    assert services.store.counts(issue_id)["queued"] == 9
