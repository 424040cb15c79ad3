"""Per-domain pacing's shared state in the database (SQLite and PostgreSQL), and where the editor
sees it: ``issues status`` (--json and text), the admin's progress view."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from newsletter.cli.issues import _progress_line
from newsletter.delivery.dispatch import Worker
from newsletter.delivery.models import Delivery, DeliveryStatus
from newsletter.delivery.pacing import Pacer, new_state
from newsletter.delivery.types import Claim, PaceState
from newsletter.issues.compose import compose
from newsletter.readers.models import Subscriber, SubscriberStatus
from newsletter.services import Services
from tests.factories import subscribed, add_article


def test_a_write_that_lost_a_race_reads_again_and_loses_nothing(services: Services) -> None:
    store = services.store
    calls: list[int] = []

    def bump(by: float):
        def change(now: datetime, stored: dict[str, PaceState]):
            state = stored.get("gmail.com") or new_state("gmail.com", 50.0, now)
            return {"gmail.com": replace(state, rate=state.rate + by)}, state.version
        return change

    def racing(now: datetime, stored: dict[str, PaceState]):
        calls.append(1)
        if len(calls) == 1:  # another worker writes between this one's read and its write
            assert store.update_paces(["gmail.com"], bump(1.0)) is not None
        return bump(10.0)(now, stored)

    assert store.update_paces(["gmail.com"], bump(0.0)) == 0  # stored, version 1
    assert store.update_paces(["gmail.com"], racing) == 2  # read again after the other's write
    assert len(calls) == 2
    _, [state] = store.pace_states()
    assert (state.rate, state.version) == (61.0, 3)  # both changes, neither lost


def test_workers_on_one_database_share_one_rate(services: Services) -> None:
    store = services.store
    one, two = (Pacer(store, {"gmail.com": 0.2}, gives_up=lambda claim, now: False) for _ in range(2))
    now, _ = store.pace_states()
    first = [Claim(i, 1, i, f"r{i}@gmail.com", "R") for i in (1, 2, 3)]
    second = [Claim(i, 1, i, f"r{i}@googlemail.com", "R") for i in (4, 5, 6)]

    a = one.plan(first, now)
    b = two.plan(second, now)
    # One message every 5 s for the whole fleet: the first worker sends one, the second none,
    # and the second's rows queue behind the first's.
    assert a.held == {2, 3} and b.held == {4, 5, 6}
    a_slots = sorted(o.next_attempt_at for o in a.outcomes)
    b_slots = sorted(o.next_attempt_at for o in b.outcomes)
    assert max(a_slots) < min(b_slots)
    assert all(o.attempts == 0 and o.status is DeliveryStatus.DEFERRED for o in a.outcomes + b.outcomes)


@pytest.fixture
def paced_send(services: Services) -> int:
    """An issue sent to 3 Gmail readers (1 a second allowed) and 2 others, one batch done."""
    with services.sessions.begin() as session:
        readers = [Subscriber(email=email, name="R", status=SubscriberStatus.ACTIVE, source="test")
                   for email in ("a@gmail.com", "b@googlemail.com", "c@gmail.com", "d@example.net", "e@example.net")]
        session.add_all(readers)
        subscribed(session, *readers)
    add_article(services.sessions, "What the tide tables leave out")
    issue_id = compose(services.sessions, services.settings).issue_id
    services.publisher.queue(issue_id)
    settings = services.settings.model_copy(update={"domain_limits": "gmail.com=1/s"})
    Worker(services.store, services.backend, settings, services.links).run(drain=True)
    return issue_id


def test_status_shows_each_paced_domain_and_the_deferred_rows_keep_their_attempts(
    services: Services, paced_send: int
) -> None:
    assert sorted(m.recipient for m in services.backend.sent) == ["a@gmail.com", "d@example.net", "e@example.net"]
    with services.sessions() as session:
        waiting = session.execute(select(Delivery.attempts, Delivery.last_reply)
                                  .where(Delivery.status == DeliveryStatus.DEFERRED)).all()
    assert len(waiting) == 2 and all(attempts == 0 and "paced: gmail.com" in why for attempts, why in waiting)

    progress = services.publisher.progress(paced_send)
    document = progress.as_dict()
    assert document["domains"] == {"gmail.com": {"sent": 1, "deferred": 2, "rate": 1.0}}
    assert (document["sent"], document["deferred"]) == (3, 2)
    assert "  gmail.com: sent 1  deferred 2  rate 1.0/s" in _progress_line(progress).splitlines()


def test_the_admin_progress_view_shows_each_paced_domain(client: TestClient, services: Services, paced_send: int) -> None:
    client.post("/admin/login", data={"password": "test-admin-password", "next": "/admin/issues"})
    page = client.get(f"/admin/issues/{paced_send}").text
    assert '<tr data-domain="gmail.com"><th scope="row">gmail.com</th><td data-field="sent">1</td>' in page
    assert '<td data-field="deferred">2</td><td data-field="rate">1.0 msg/s</td>' in page
    polled = client.get(f"/admin/issues/{paced_send}/progress").json()
    assert polled["domains"]["gmail.com"] == {"sent": 1, "deferred": 2, "rate": 1.0}


def test_a_cancelled_send_leaves_nothing_waiting_for_any_domain(services: Services, paced_send: int) -> None:
    assert services.publisher.progress(paced_send).domains["gmail.com"].deferred == 2
    services.publisher.cancel(paced_send)
    progress = services.publisher.progress(paced_send)
    assert (progress.counts["skipped"], progress.domains["gmail.com"].deferred) == (2, 0)
