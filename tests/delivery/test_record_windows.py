"""Outcomes are made durable while a claim is being sent, never more than ``record_every`` behind
the wire, and a slow claim keeps its lease."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from sqlalchemy import func, select, update

from newsletter.config import Settings
from newsletter.delivery import journal
from newsletter.delivery.dispatch import Worker
from newsletter.delivery.models import Delivery, DeliveryStatus
from newsletter.mail.backends import OutgoingMessage, SendResult
from newsletter.mail.backends.base import Progress
from newsletter.mail.backends.memory import MemoryBackend
from newsletter.services import Services
from tests.factories import add_subscribers


class Watching(MemoryBackend):
    """The memory backend (which reports each result), calling ``before(index)`` once each message
    has been admitted, just before it goes."""

    def __init__(self, settings: Settings, before: Callable[[int], None]) -> None:
        super().__init__(settings)
        self._before = before

    def send_reporting(self, messages: Sequence[OutgoingMessage], progress: Progress | None) -> list[SendResult]:
        assert progress is not None
        outer = progress

        class Hooked:
            def admit(self, index: int) -> bool:
                admitted = outer.admit(index)
                if admitted:
                    hook(index)
                return admitted

            def answered(self, index: int, result: SendResult) -> None:
                outer.answered(index, result)

        hook = self._before
        return super().send_reporting(messages, Hooked())


class PlainBackend:
    """A plug-in backend with only ``send``: the worker calls it a window at a time."""

    def __init__(self, settings: Settings, before: Callable[[Sequence[OutgoingMessage]], None]) -> None:
        self.memory = MemoryBackend(settings)
        self._before = before

    def send(self, messages: Sequence[OutgoingMessage]) -> list[SendResult]:
        self._before(messages)
        return self.memory.send(messages)

    def close(self) -> None:
        self.memory.close()


def sent_rows(services: Services) -> int:
    with services.sessions() as session:
        return session.scalar(select(func.count()).where(Delivery.status == DeliveryStatus.SENT)) or 0


def durable(services: Services) -> int:
    """Sent rows whose outcome a kill would not lose: in the database or in a worker's journal."""
    with services.sessions() as session:
        ids = set(session.scalars(select(Delivery.id).where(Delivery.status == DeliveryStatus.SENT)))
    for path in (services.settings.data_dir / "journal").glob("*.journal"):
        ids.update(o.delivery_id for o in journal.read(path.read_bytes())[1] if o.status is DeliveryStatus.SENT)
    return len(ids)


def test_no_more_than_record_every_sends_are_ever_without_a_durable_outcome(
    services: Services, issue_id: int
) -> None:
    add_subscribers(services.sessions, 40)
    services.publisher.queue(issue_id)
    at_risk: list[int] = []  # what a kill just after each message went would send again
    backend = Watching(services.settings, lambda index: at_risk.append(index + 1 - durable(services)))
    settings = services.settings.model_copy(update={"batch_size": 1000, "record_every": 6})
    assert Worker(services.store, backend, settings, services.links).run_once() == 40
    assert len(at_risk) == 40 and max(at_risk) <= 6
    assert at_risk[-1] < 40  # written while the claim was still being sent, not once at its end
    assert sent_rows(services) == 40 and len(backend.sent) == 40 == len({m.recipient for m in backend.sent})


def test_a_backend_that_cannot_report_is_sent_a_window_at_a_time(services: Services, issue_id: int) -> None:
    add_subscribers(services.sessions, 12)
    services.publisher.queue(issue_id)
    seen: list[tuple[int, int]] = []  # (window size, rows already written) at each send
    backend = PlainBackend(services.settings, lambda messages: seen.append((len(messages), durable(services))))
    settings = services.settings.model_copy(update={"batch_size": 1000, "record_every": 5})
    assert Worker(services.store, backend, settings, services.links).run_once() == 12  # type: ignore[arg-type]
    assert seen == [(5, 0), (5, 5), (2, 10)]  # windows of 5, 5, 2 out of one claim of 12, each durable before the next
    assert sent_rows(services) == 12 and len(backend.memory.sent) == 12


def slow_worker(services: Services, backend: Watching, now: list[float]) -> Worker:
    """A worker whose clock the test moves (``now[0]``), with 10 s leases and groups of 2."""
    settings = services.settings.model_copy(update={"batch_size": 1000, "record_every": 5, "lease_seconds": 10})
    return Worker(services.store, backend, settings, services.links, clock=lambda: now[0])


def test_a_slow_claim_renews_its_lease_and_never_sends_rows_another_worker_took(
    services: Services, issue_id: int
) -> None:
    add_subscribers(services.sessions, 12)
    services.publisher.queue(issue_id)
    now = [0.0]

    def slow(index: int) -> None:
        if index == 4:
            # Another worker takes over the last two rows (as if their lease had run out), and the
            # claim has now taken longer than half its 10 s lease.
            with services.sessions.begin() as session:
                last = session.scalars(select(Delivery.id).order_by(Delivery.id.desc()).limit(2)).all()
                session.execute(update(Delivery).where(Delivery.id.in_(last)).values(lease_owner="another"))
            now[0] += 6

    backend = Watching(services.settings, slow)
    slow_worker(services, backend, now).run_once()
    sent = [m.recipient for m in backend.sent]
    assert len(sent) == 10 == len(set(sent))  # the two taken over were left to their new owner
    assert "reader10@example.net" not in sent and "reader11@example.net" not in sent
    with services.sessions() as session:
        rows = session.execute(select(Delivery.status, Delivery.lease_owner).where(Delivery.lease_owner == "another"))
        assert [tuple(row) for row in rows] == [(DeliveryStatus.SENDING, "another")] * 2
    assert sent_rows(services) == 10


def test_a_stalled_claim_writes_what_it_journaled_to_the_database_before_renewing_its_lease(
    services: Services, issue_id: int
) -> None:
    add_subscribers(services.sessions, 6)
    services.publisher.queue(issue_id)
    now = [0.0]
    seen: list[int] = []

    def stall(index: int) -> None:
        if index != 2:
            return
        deadline = time.monotonic() + 5
        while durable(services) < 2 and time.monotonic() < deadline:  # the first two are journaled
            time.sleep(0.01)
        # The relay then answers nothing for longer than half the lease: the rows journaled so far
        # must reach the database, or they would lose their lease and another worker send them again.
        now[0] += 6
        time.sleep(1.5)  # the recorder looks every second while idle
        seen.append(sent_rows(services))

    slow_worker(services, Watching(services.settings, stall), now).run_once()
    assert seen == [2]
    assert sent_rows(services) == 6
