"""Outcomes are written a window at a time within a claim, and a slow claim keeps its lease."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pytest
from sqlalchemy import func, select, update

from newsletter.delivery.dispatch import Worker
from newsletter.delivery.models import Delivery, DeliveryStatus
from newsletter.issues.compose import compose
from newsletter.mail.backends import OutgoingMessage, SendResult
from newsletter.mail.backends.memory import MemoryBackend
from newsletter.config import Settings
from newsletter.services import Services
from tests.factories import add_article, add_subscribers


@pytest.fixture
def issue_id(services: Services) -> int:
    add_article(services.sessions, "Is the Kursk operation still worth the cost?")
    return compose(services.sessions, services.settings).issue_id


class Watching(MemoryBackend):
    """The memory backend, calling ``before`` ahead of each send (a window)."""

    def __init__(self, settings: Settings, before: Callable[[Sequence[OutgoingMessage]], None]) -> None:
        super().__init__(settings)
        self._before = before

    def send(self, messages: Sequence[OutgoingMessage]) -> list[SendResult]:
        self._before(messages)
        return super().send(messages)


def sent_rows(services: Services) -> int:
    with services.sessions() as session:
        return session.scalar(select(func.count()).where(Delivery.status == DeliveryStatus.SENT)) or 0


def test_outcomes_are_durable_every_window_not_once_per_claim(services: Services, issue_id: int) -> None:
    add_subscribers(services.sessions, 12)
    services.publisher.queue(issue_id)
    seen: list[int] = []  # what a crash at each window would find already written
    backend = Watching(services.settings, lambda messages: seen.append(sent_rows(services)))
    settings = services.settings.model_copy(update={"batch_size": 1000, "record_every": 5})
    assert Worker(services.store, backend, settings, services.links).run_once() == 12
    assert seen == [0, 5, 10]  # windows of 5, 5, 2 out of one claim of 12
    assert sent_rows(services) == 12 and len(backend.sent) == 12


def test_a_slow_claim_renews_its_lease_and_never_sends_rows_another_worker_took(
    services: Services, issue_id: int
) -> None:
    add_subscribers(services.sessions, 12)
    services.publisher.queue(issue_id)
    now = [0.0]
    windows: list[list[str]] = []

    def slow_window(messages: Sequence[OutgoingMessage]) -> None:
        windows.append([m.recipient for m in messages])
        now[0] += 6  # each window takes longer than half the 10 s lease
        if len(windows) == 1:
            # Meanwhile another worker takes over the last two rows (as if their lease had run out).
            with services.sessions.begin() as session:
                last = session.scalars(select(Delivery.id).order_by(Delivery.id.desc()).limit(2)).all()
                session.execute(update(Delivery).where(Delivery.id.in_(last)).values(lease_owner="another"))

    backend = Watching(services.settings, slow_window)
    settings = services.settings.model_copy(update={"batch_size": 1000, "record_every": 5, "lease_seconds": 10})
    worker = Worker(services.store, backend, settings, services.links, clock=lambda: now[0])
    worker.run_once()
    sent = [m.recipient for m in backend.sent]
    assert len(sent) == 10 == len(set(sent))  # the two taken over were left to their new owner
    assert "reader10@example.net" not in sent and "reader11@example.net" not in sent
    with services.sessions() as session:
        rows = session.execute(select(Delivery.status, Delivery.lease_owner).where(Delivery.lease_owner == "another"))
        assert [tuple(row) for row in rows] == [(DeliveryStatus.SENDING, "another")] * 2
    assert sent_rows(services) == 10
