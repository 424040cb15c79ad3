"""The database is the one clock of the send: a worker whose own clock is off changes nothing.

The worker runs in this process with its clock moved an hour or two from the host's (time-machine
moves Python's clock only); the database, SQLite in this process's C library or PostgreSQL, keeps
the host's. What is due, what has expired and what is too old is decided by the database's time:
a worker behind still takes a due retry or an expired lease, a worker ahead neither steals a live
lease, nor retries early, nor gives up on a young delivery. Times are moved by writing rows with
times the database made (``created_at``), never with this process's clock.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone

import time_machine
from sqlalchemy import select, update

from newsletter.delivery.dispatch import Worker
from newsletter.delivery.models import Delivery, DeliveryStatus
from newsletter.mail.backends import SendResult, SendStatus
from newsletter.mail.backends.memory import MemoryBackend
from newsletter.services import Services
from tests.clock import real_time
from tests.factories import add_subscribers

AN_HOUR = timedelta(hours=1)
BUSY = SendResult(SendStatus.DEFERRED, 451, "4.3.0 try again later")


@contextmanager
def worker_clock(offset: timedelta) -> Iterator[None]:
    """This process's clock (the worker's) ``offset`` from the host's, which the database reads."""
    with time_machine.travel(datetime.fromtimestamp(real_time(), timezone.utc) + offset, tick=True):
        yield


def worker(services: Services, backend: MemoryBackend | None = None, **overrides: object) -> Worker:
    settings = services.settings.model_copy(update=overrides) if overrides else services.settings
    return Worker(services.store, backend or services.backend, settings, services.links)


def busy(services: Services, *readers: str) -> MemoryBackend:
    return MemoryBackend(services.settings, outcomes={reader: BUSY for reader in readers})


def the_delivery(services: Services) -> Delivery:
    with services.sessions() as session:
        [row] = session.scalars(select(Delivery))
        return row


def set_rows(services: Services, **values: object) -> None:
    with services.sessions.begin() as session:
        session.execute(update(Delivery).values(**values))


def deferred_once(services: Services, issue_id: int, **overrides: object) -> Delivery:
    add_subscribers(services.sessions, 1)
    services.publisher.queue(issue_id)
    assert worker(services, busy(services, "reader0@example.net"), **overrides).run(drain=True) == 1
    row = the_delivery(services)
    assert row.status is DeliveryStatus.DEFERRED and row.next_attempt_at is not None
    return row


def test_a_retry_due_by_the_database_clock_is_taken_by_a_worker_whose_clock_is_behind(
    services: Services, issue_id: int
) -> None:
    deferred_once(services, issue_id)
    set_rows(services, next_attempt_at=Delivery.created_at)  # due: a time the database made, passed
    with worker_clock(-AN_HOUR):
        assert worker(services).run(drain=True) == 1
    assert [m.recipient for m in services.backend.sent] == ["reader0@example.net"]  # type: ignore[attr-defined]
    assert the_delivery(services).status is DeliveryStatus.SENT


def test_a_worker_whose_clock_is_ahead_does_not_retry_before_the_back_off_ends(
    services: Services, issue_id: int
) -> None:
    row = deferred_once(services, issue_id)
    assert row.next_attempt_at is not None and row.next_attempt_at - row.created_at > timedelta(seconds=200)
    with worker_clock(+AN_HOUR):
        assert worker(services).run(drain=True) == 0
    assert services.backend.sent == []  # type: ignore[attr-defined]
    assert the_delivery(services).status is DeliveryStatus.DEFERRED


def test_a_live_lease_is_not_stolen_by_a_worker_whose_clock_is_ahead(services: Services, issue_id: int) -> None:
    add_subscribers(services.sessions, 3)
    services.publisher.queue(issue_id)
    held = services.store.claim("first", 10, lease_seconds=60).claims
    assert len(held) == 3
    with worker_clock(+AN_HOUR):
        assert services.store.claim("ahead", 10, lease_seconds=60).claims == []
        assert worker(services).run(drain=True) == 0
    assert services.backend.sent == []  # type: ignore[attr-defined]

    # Once the lease has run out by the database's clock, a worker behind takes the rows over.
    set_rows(services, lease_expires_at=Delivery.created_at)
    with worker_clock(-AN_HOUR):
        retaken = services.store.claim("behind", 10, lease_seconds=60).claims
    assert sorted(c.delivery_id for c in retaken) == sorted(c.delivery_id for c in held)


def test_too_old_to_retry_is_decided_by_the_database_clock(services: Services, issue_id: int) -> None:
    # A worker two hours ahead, with a one-hour limit: the delivery is seconds old, so it defers.
    with worker_clock(2 * AN_HOUR):
        deferred_once(services, issue_id, retry_max_age_hours=1)

    # Queued two hours before the database's now, and due: a worker two hours behind gives up.
    queued = the_delivery(services).created_at - 2 * AN_HOUR
    set_rows(services, created_at=queued, next_attempt_at=queued)
    with worker_clock(-2 * AN_HOUR):
        assert worker(services, busy(services, "reader0@example.net"), retry_max_age_hours=1).run(drain=True) == 1
    row = the_delivery(services)
    assert row.status is DeliveryStatus.FAILED and row.attempts == 2


def test_the_send_rate_is_measured_by_the_database_clock(services: Services, issue_id: int) -> None:
    add_subscribers(services.sessions, 5)
    services.publisher.queue(issue_id)
    assert worker(services).run(drain=True) == 5
    with worker_clock(+AN_HOUR):  # `issues status` on a machine whose clock is an hour ahead
        progress = services.publisher.progress(issue_id)
    assert progress.counts["sent"] == 5
    assert progress.rate_per_second > 0  # the sends just happened, by the clock that timed them
