"""Two sends of the same draft at once: the compare-and-set that starts a send lets exactly one
through; the other is refused and queues nobody."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

import pytest
from sqlalchemy import func, select

from newsletter.delivery.models import Delivery
from newsletter.issues.compose import compose
from newsletter.issues.models import Issue, IssueStatus
from newsletter.issues.publishing import IssueStateError, QueueResult
from tests.factories import add_article, add_subscribers

T = TypeVar("T")


def at_once(calls: list[Callable[[], T]]) -> list[T | BaseException]:
    """Run the calls in threads released together; each one's result or exception."""
    barrier = threading.Barrier(len(calls))
    results: list[T | BaseException] = [RuntimeError("did not run")] * len(calls)

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = calls[i]()
        except BaseException as exc:  # noqa: BLE001 - handed back to the test
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return results


@pytest.fixture
def draft(services) -> int:
    add_article(services.sessions, "A piece")
    add_subscribers(services.sessions, 50)
    issue_id = compose(services.sessions, services.settings).issue_id
    services.publisher.rendered(issue_id)  # rendered once beforehand: the threads meet at the queueing
    return issue_id


def deliveries(services, issue_id: int) -> int:
    with services.sessions() as session:
        return session.scalar(select(func.count()).select_from(Delivery).where(Delivery.issue_id == issue_id)) or 0


def test_two_sends_of_one_draft_at_once_exactly_one_queues(services, draft):
    results = at_once([lambda: services.publisher.queue(draft)] * 2)
    queued = [r for r in results if isinstance(r, QueueResult)]
    refused = [r for r in results if isinstance(r, IssueStateError)]
    assert len(queued) == 1 and len(refused) == 1, results
    assert queued[0].queued == 50
    assert f"cannot send issue {draft}: it is sending" in str(refused[0])
    assert deliveries(services, draft) == 50


def test_the_state_change_and_the_queueing_are_one_compare_and_set(services, draft):
    # Past the publisher's early look, straight at the guarded UPDATE: only one start wins.
    results = at_once([lambda: services.store.enqueue(draft)] * 4)
    assert sorted(results, key=lambda r: r is None) == [50, None, None, None]
    assert deliveries(services, draft) == 50
    with services.sessions() as session:
        assert session.scalar(select(Issue.status).where(Issue.id == draft)) is IssueStatus.SENDING
    # More readers for a send under way never reopen a finished one.
    assert services.store.enqueue_more(draft) == 0
    services.store.set_issue_status(draft, IssueStatus.SENT, [IssueStatus.SENDING])
    add_subscribers(services.sessions, 1, prefix="late")
    assert services.store.enqueue_more(draft) is None
    assert services.store.enqueue(draft) is None
    assert deliveries(services, draft) == 50
