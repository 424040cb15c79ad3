"""The scheduler's sends keep "an issue is sent once": a one-off send finds an issue sent by hand,
local-time waves add readers to the send under way, a crashed send is taken up without re-opening."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update

from newsletter.delivery.dispatch import Worker
from newsletter.delivery.models import Delivery
from newsletter.issues.compose import compose
from newsletter.issues.models import Issue, IssueStatus
from newsletter.readers.models import Subscriber
from newsletter.schedule.cycle import RECOVER_AFTER, CycleRunner
from newsletter.schedule.models import CycleState, WeeklyCycle
from newsletter.schedule.sends import schedule_issue
from newsletter.schedule.weekly import update_schedule
from tests.factories import add_article, add_subscribers
from tests.schedule.test_cycle import COMPOSE, SEND, kinds, row, tick, utc


def status(services, issue_id: int) -> IssueStatus:
    with services.sessions() as session:
        found = session.scalar(select(Issue.status).where(Issue.id == issue_id))
        assert found is not None
        return found


def delivered_to(services) -> set[int]:
    with services.sessions() as session:
        return set(session.scalars(select(Delivery.subscriber_id)))


def drain(services) -> int:
    worker = Worker(services.store, services.backend, services.settings, services.links)
    handled = worker.run(drain=True)
    worker.run(drain=True)  # the queue ran dry: finished issues are marked sent
    return handled


def test_a_scheduled_issue_sent_by_hand_meanwhile_is_not_queued_again(services):
    runner = CycleRunner(services)
    add_article(services.sessions, "A piece", utc(2026, 11, 25))
    first = add_subscribers(services.sessions, 2)
    issue_id = compose(services.sessions, services.settings, now=utc(2026, 11, 25)).issue_id
    at = utc(2026, 11, 26, 9, 0)
    schedule_issue(services, issue_id, at, now=utc(2026, 11, 25))

    assert services.publisher.queue(issue_id).queued == 2  # the editor sends it by hand first
    assert drain(services) == 2 and status(services, issue_id) is IssueStatus.SENT
    [late] = add_subscribers(services.sessions, 1, prefix="late")

    assert "scheduled_send" not in kinds(tick(runner, at))
    assert tick(runner, at + timedelta(minutes=1)) == []
    assert delivered_to(services) == set(first) and late not in delivered_to(services)
    assert status(services, issue_id) is IssueStatus.SENT


def test_later_local_time_waves_reach_their_readers_after_the_first_wave_went_out(services):
    runner = CycleRunner(services)
    update_schedule(services.sessions, services.settings, mode="local-time")
    add_article(services.sessions, "A piece", utc(2026, 11, 25))
    [tokyo] = add_subscribers(services.sessions, 1, prefix="tokyo")
    [london] = add_subscribers(services.sessions, 1, prefix="london")
    with services.sessions.begin() as session:
        session.execute(update(Subscriber).where(Subscriber.id == tokyo).values(time_zone="Asia/Tokyo"))
    tick(runner, COMPOSE)
    issue_id = row(services, "2026-W48").issue_id

    assert kinds(tick(runner, utc(2026, 11, 27, 22, 0))) == ["wave"]  # Sat 07:00 in Tokyo
    assert drain(services) == 1
    # Tokyo's wave went out, yet the send stays open: London's wave is still to come.
    assert status(services, issue_id) is IssueStatus.SENDING

    assert kinds(tick(runner, SEND)) == ["wave"]  # Sat 07:00 in London
    assert delivered_to(services) == {tokyo, london}
    assert drain(services) == 1
    tick(runner, utc(2026, 11, 29, 12, 0))  # every zone on Earth is past its send time: dispatched
    drain(services)
    assert status(services, issue_id) is IssueStatus.SENT
    assert kinds(tick(runner, utc(2026, 11, 29, 12, 5))) == ["sent"]
    assert row(services, "2026-W48").state is CycleState.SENT


def test_a_send_whose_scheduler_died_after_queueing_only_adds_readers_who_joined_since(services):
    runner = CycleRunner(services)
    add_article(services.sessions, "A piece", utc(2026, 11, 25))
    first = add_subscribers(services.sessions, 2)
    tick(runner, COMPOSE)
    issue_id = row(services, "2026-W48").issue_id
    # A scheduler claimed the send and queued it, then died before recording it.
    with services.sessions.begin() as session:
        session.execute(update(WeeklyCycle).where(WeeklyCycle.week == "2026-W48")
                        .values(state=CycleState.SENDING, updated_at=SEND))
    services.publisher.queue(issue_id)
    [late] = add_subscribers(services.sessions, 1, prefix="late")

    assert tick(runner, SEND + timedelta(minutes=1)) == []  # not yet: the claimer may still be at it
    [taken_up] = tick(runner, SEND + RECOVER_AFTER + timedelta(minutes=1))
    assert taken_up.kind == "queued" and "1 deliveries queued" in taken_up.detail
    assert delivered_to(services) == {*first, late}
    assert status(services, issue_id) is IssueStatus.SENDING
    assert row(services, "2026-W48").dispatched_at is not None
