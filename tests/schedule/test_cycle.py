"""The weekly cycle: each week composed and sent exactly once, whatever the clock, DST or downtime."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

import pytest
import time_machine
from sqlalchemy import select, update

from newsletter.schedule.cycle import CycleEvent, CycleRunner
from newsletter.schedule.weekly import update_schedule
from newsletter.delivery.dispatch import Worker
from newsletter.delivery.models import Delivery
from newsletter.issues.models import Issue, IssueStatus
from newsletter.readers.models import Subscriber
from newsletter.lists.models import FIRST_LIST_ID
from newsletter.schedule.models import CycleState, WeeklyCycle
from newsletter.issues.publishing import IssueStateError
from tests.factories import add_article, add_subscribers

EDITOR = "briefing@example.org"  # no editor_email set: the From address
# 2026-W48 in London (GMT): compose Fri 27 Nov 16:00, send Sat 28 Nov 07:00 (the settings' defaults).
COMPOSE = datetime(2026, 11, 27, 16, 0, tzinfo=timezone.utc)
SEND = datetime(2026, 11, 28, 7, 0, tzinfo=timezone.utc)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=timezone.utc)


def tick(runner: CycleRunner, moment: datetime) -> list[CycleEvent]:
    with time_machine.travel(moment, tick=False):
        return runner.tick(moment)


def ticks(runner: CycleRunner, start: datetime, end: datetime, step: timedelta) -> list[tuple[datetime, CycleEvent]]:
    out = []
    moment = start
    while moment <= end:
        out += [(moment, e) for e in tick(runner, moment)]
        moment += step
    return out


def kinds(events) -> list[str]:
    return [e.kind for e in events]


def row(services, week: str, list_id: int = FIRST_LIST_ID) -> WeeklyCycle:
    with services.sessions() as session:
        found = session.get(WeeklyCycle, (list_id, week))
        assert found is not None
        return found


def delivery_count(services) -> int:
    with services.sessions() as session:
        return len(list(session.scalars(select(Delivery.id))))


def editor_mail(services) -> list[str]:
    return [m.data.decode() for m in services.backend.sent if m.recipient == EDITOR]


@pytest.fixture
def runner(services) -> CycleRunner:
    return CycleRunner(services)


def test_a_normal_week_is_composed_then_sent_once(services, runner):
    add_article(services.sessions, "This week's piece", utc(2026, 11, 25))
    add_article(services.sessions, "Last week's leftover", utc(2026, 11, 18))
    add_subscribers(services.sessions, 3)

    [first] = tick(runner, COMPOSE - timedelta(seconds=1))  # the first start: last week is history
    assert (first.week, first.kind) == ("2026-W47", "missed") and "first start" in first.detail
    assert kinds(tick(runner, COMPOSE)) == ["composed"]
    assert tick(runner, COMPOSE + timedelta(seconds=30)) == []
    assert row(services, "2026-W48").state is CycleState.COMPOSED
    assert tick(runner, SEND - timedelta(seconds=1)) == []
    sent = ticks(runner, SEND, SEND + timedelta(hours=3), timedelta(minutes=5))
    assert kinds(e for _, e in sent) == ["queued"] and "3 deliveries" in sent[0][1].detail
    assert delivery_count(services) == 3

    issue_id = row(services, "2026-W48").issue_id
    with services.sessions() as session:
        issue = session.get(Issue, issue_id)
        # Every article not yet in an issue, newest first.
        assert [a.title for a in issue.articles] == ["This week's piece", "Last week's leftover"]
    with time_machine.travel(SEND + timedelta(hours=4), tick=False):
        Worker(services.store, services.backend, services.settings, services.links).run(drain=True)
    assert kinds(tick(runner, SEND + timedelta(hours=4))) == ["sent"]
    assert row(services, "2026-W48").state is CycleState.SENT
    assert tick(runner, SEND + timedelta(hours=5)) == []
    assert delivery_count(services) == 3 and editor_mail(services) == []


def test_articles_go_out_once_each(services, runner):
    add_article(services.sessions, "First week", utc(2026, 11, 25))
    tick(runner, COMPOSE)
    tick(runner, SEND)
    add_article(services.sessions, "Second week", utc(2026, 12, 2))
    tick(runner, COMPOSE + timedelta(days=7))
    with services.sessions() as session:
        issue = session.get(Issue, row(services, "2026-W49").issue_id)
        assert [a.title for a in issue.articles] == ["Second week"]


DST_WEEKS = [
    # zone, send day and time inside the gap or the repeated hour, a time in that week, the send in UTC
    ("Europe/London", "sun 01:30", utc(2026, 3, 26), utc(2026, 3, 29, 1, 30)),  # gap: 02:30 BST
    ("Europe/London", "sun 01:30", utc(2026, 10, 22), utc(2026, 10, 25, 0, 30)),  # twice: the first
    ("America/New_York", "sun 02:30", utc(2026, 3, 5), utc(2026, 3, 8, 7, 30)),  # gap: 03:30 EDT
    ("America/New_York", "sun 01:30", utc(2026, 10, 29), utc(2026, 11, 1, 5, 30)),  # twice: the first
]


@pytest.mark.parametrize(("zone", "send", "in_week", "expected"), DST_WEEKS)
def test_a_send_time_in_a_dst_gap_or_repeat_sends_exactly_once(services, runner, zone, send, in_week, expected):
    update_schedule(services.sessions, services.settings, compose="sat 12:00", send=send, time_zone=zone)
    add_article(services.sessions, "A piece", in_week)
    add_subscribers(services.sessions, 2)

    # Every 10 minutes for three hours either side of the expected send (a DST slip is an hour),
    # hourly elsewhere in the five days: each tick is a few queries, and the week still runs whole
    # (a send at any other hourly tick would fail the time check below).
    near = (expected - timedelta(hours=3), expected + timedelta(hours=3))
    events = ticks(runner, in_week, near[0] - timedelta(hours=1), timedelta(hours=1))
    events += ticks(runner, near[0], near[1], timedelta(minutes=10))
    events += ticks(runner, near[1] + timedelta(hours=1), in_week + timedelta(days=5), timedelta(hours=1))

    assert kinds(e for _, e in events) == ["missed", "composed", "queued"]
    queued_at = events[2][0]
    assert expected <= queued_at < expected + timedelta(minutes=10)
    assert delivery_count(services) == 2


def test_after_downtime_within_the_grace_the_week_is_sent_late_once(services, runner):
    add_article(services.sessions, "A piece", utc(2026, 11, 25))
    add_subscribers(services.sessions, 2)
    tick(runner, COMPOSE)
    late = SEND + timedelta(hours=5)  # grace is 6 h
    assert kinds(tick(runner, late)) == ["queued"]
    assert ticks(runner, late, late + timedelta(hours=2), timedelta(minutes=1)) == []
    assert delivery_count(services) == 2


def test_down_through_compose_and_send_composes_and_sends_in_one_tick(services, runner):
    add_article(services.sessions, "A piece", utc(2026, 11, 25))
    add_subscribers(services.sessions, 2)
    assert kinds(tick(runner, SEND + timedelta(hours=1))) == ["missed", "composed", "queued"]  # W47 first: quiet
    assert delivery_count(services) == 2 and editor_mail(services) == []


def test_after_downtime_past_the_grace_nothing_is_sent_and_the_editor_is_told(services, runner):
    add_article(services.sessions, "A piece", utc(2026, 11, 25))
    add_subscribers(services.sessions, 2)
    tick(runner, COMPOSE)
    events = tick(runner, SEND + timedelta(hours=7))
    assert kinds(events) == ["missed"]
    assert row(services, "2026-W48").state is CycleState.MISSED
    assert ticks(runner, SEND + timedelta(hours=7), SEND + timedelta(days=1), timedelta(hours=1)) == []
    assert delivery_count(services) == 0
    [mail] = editor_mail(services)
    assert "2026-W48 was not sent" in mail


def test_a_first_start_after_this_weeks_send_and_grace_tells_the_editor_nothing(services, runner):
    """Installed on a Saturday evening: last week and this week were never meant to be sent."""
    add_article(services.sessions, "A piece", utc(2026, 11, 25))
    add_subscribers(services.sessions, 2)
    events = tick(runner, SEND + timedelta(hours=16))
    assert [(e.week, e.kind) for e in events] == [("2026-W47", "missed"), ("2026-W48", "missed")]
    assert all("first start" in e.detail for e in events)
    assert editor_mail(services) == []
    assert delivery_count(services) == 0


def test_only_the_latest_week_is_ever_sent_late(services, runner):
    add_article(services.sessions, "Old piece", utc(2026, 11, 18))
    add_subscribers(services.sessions, 1)
    tick(runner, COMPOSE - timedelta(days=7))  # W47 composed, then the scheduler stops
    add_article(services.sessions, "New piece", utc(2026, 11, 25))
    events = tick(runner, SEND + timedelta(hours=1))
    assert [(e.week, e.kind) for e in events] == [("2026-W47", "missed"), ("2026-W48", "composed"),
                                                  ("2026-W48", "queued")]
    assert delivery_count(services) == 1
    with services.sessions() as session:
        issue = session.get(Issue, row(services, "2026-W48").issue_id)
        assert [a.title for a in issue.articles] == ["New piece"]


def test_an_empty_week_sends_nothing_and_tells_the_editor(services, runner):
    add_subscribers(services.sessions, 2)
    assert kinds(tick(runner, COMPOSE)) == ["missed", "empty"]  # W47: before the first start
    assert ticks(runner, SEND, SEND + timedelta(hours=2), timedelta(minutes=10)) == []
    assert row(services, "2026-W48").state is CycleState.EMPTY
    with services.sessions() as session:
        assert session.scalar(select(Issue.id)) is None
    [mail] = editor_mail(services)
    assert "nothing to send in 2026-W48" in mail


def test_approve_mode_with_approval_sends(services, runner):
    update_schedule(services.sessions, services.settings, mode="approve")
    add_article(services.sessions, "A piece", utc(2026, 11, 25))
    add_subscribers(services.sessions, 2)
    assert kinds(tick(runner, COMPOSE)) == ["missed", "awaiting_approval"]
    issue_id = row(services, "2026-W48").issue_id
    [mail] = editor_mail(services)
    assert f"http://newsletter.test/admin/issues/{issue_id}/preview" in mail
    assert tick(runner, COMPOSE + timedelta(hours=1)) == []

    approval = runner.approve(issue_id, now=COMPOSE + timedelta(hours=2))
    assert approval.week == "2026-W48"
    with pytest.raises(IssueStateError, match="not awaiting approval"):
        runner.approve(issue_id)
    assert kinds(tick(runner, SEND)) == ["queued"]
    assert delivery_count(services) == 2


def test_approve_mode_without_approval_sends_nothing_and_tells_the_editor(services, runner):
    update_schedule(services.sessions, services.settings, mode="approve")
    add_article(services.sessions, "A piece", utc(2026, 11, 25))
    add_subscribers(services.sessions, 2)
    tick(runner, COMPOSE)
    issue_id = row(services, "2026-W48").issue_id
    assert kinds(tick(runner, SEND)) == ["not_approved"]
    assert tick(runner, SEND + timedelta(minutes=1)) == []
    assert delivery_count(services) == 0
    assert "was not approved in time" in editor_mail(services)[-1]
    with pytest.raises(IssueStateError):
        runner.approve(issue_id)


def test_local_time_waves_reach_each_reader_at_their_own_send_time_once(services, runner):
    update_schedule(services.sessions, services.settings, mode="local-time")
    add_article(services.sessions, "A piece", utc(2026, 11, 25))
    zones = {"london": None, "newyork": "America/New_York", "tokyo": "Asia/Tokyo"}
    ids = {}
    for name, zone in zones.items():
        [ids[name]] = add_subscribers(services.sessions, 1, prefix=name)
        with services.sessions.begin() as session:
            session.execute(update(Subscriber).where(Subscriber.id == ids[name]).values(time_zone=zone))
    local_send = {  # Sat 07:00 in each reader's zone
        "tokyo": utc(2026, 11, 27, 22, 0), "london": utc(2026, 11, 28, 7, 0), "newyork": utc(2026, 11, 28, 12, 0),
    }
    first_queued: dict[int, datetime] = {}
    moment = COMPOSE - timedelta(hours=1)
    while moment <= utc(2026, 11, 29, 12, 0):
        tick(runner, moment)
        with services.sessions() as session:
            for subscriber_id in session.scalars(select(Delivery.subscriber_id)):
                first_queued.setdefault(subscriber_id, moment)
        moment += timedelta(minutes=15)

    for name, due in local_send.items():
        assert due <= first_queued[ids[name]] < due + timedelta(minutes=15), name
    assert delivery_count(services) == 3
    cycle = row(services, "2026-W48")
    assert cycle.waves_done == ["America/New_York", "Asia/Tokyo", "Europe/London"]
    assert cycle.dispatched_at is not None and cycle.state is CycleState.SENDING


def test_a_one_off_scheduled_issue_is_queued_once_at_its_time(services, runner):
    from newsletter.issues.compose import compose
    from newsletter.schedule.sends import schedule_issue

    add_article(services.sessions, "A piece", utc(2026, 11, 25))
    add_subscribers(services.sessions, 2)
    issue_id = compose(services.sessions, services.settings, now=utc(2026, 11, 25)).issue_id
    at = utc(2026, 11, 26, 9, 0)
    schedule_issue(services, issue_id, at, now=utc(2026, 11, 25))
    assert kinds(tick(runner, at - timedelta(seconds=1))) == ["missed"]  # W47: before the first start
    assert kinds(tick(runner, at)) == ["scheduled_send"]
    assert tick(runner, at + timedelta(seconds=30)) == []
    assert delivery_count(services) == 2
    with services.sessions() as session:
        assert session.get(Issue, issue_id).status is IssueStatus.SENDING


@pytest.mark.postgres
def test_two_schedulers_ticking_at_once_compose_and_send_once(services, database_url):
    if not database_url.startswith("postgresql"):
        pytest.skip("the row locks under test are PostgreSQL's")
    add_article(services.sessions, "A piece", utc(2026, 11, 25))
    add_subscribers(services.sessions, 20)
    runners = [CycleRunner(services) for _ in range(4)]

    def together(moment: datetime) -> list[CycleEvent]:
        barrier = threading.Barrier(len(runners))
        results: list[list[CycleEvent]] = [[] for _ in runners]

        def run(i: int) -> None:
            barrier.wait()
            results[i] = runners[i].tick(moment)

        threads = [threading.Thread(target=run, args=(i,)) for i in range(len(runners))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return [e for r in results for e in r]

    assert sorted(kinds(together(COMPOSE))) == ["composed", "missed"]
    for _ in range(2):
        assert kinds(together(COMPOSE)) == []
    assert row(services, "2026-W48").state is CycleState.COMPOSED
    events = together(SEND) + together(SEND + timedelta(seconds=30))
    assert kinds(events) == ["queued"]
    assert delivery_count(services) == 20
    with services.sessions() as session:
        assert len(list(session.scalars(select(Issue.id)))) == 1
