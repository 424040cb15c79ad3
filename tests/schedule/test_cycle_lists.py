"""The weekly cycle per list: each list's week composed and sent once, on that list's own schedule."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import time_machine
from sqlalchemy import select

from newsletter.content.models import Article
from newsletter.content.sources import add_source
from newsletter.delivery.dispatch import Worker
from newsletter.delivery.models import Delivery
from newsletter.issues.models import Issue
from newsletter.lists.catalog import create_list
from newsletter.lists.models import FIRST_LIST_ID
from newsletter.readers.models import Subscriber
from newsletter.schedule.cycle import CycleEvent, CycleRunner
from newsletter.schedule.models import CycleState, WeeklyCycle
from newsletter.schedule.weekly import cycle_lists, update_schedule
from newsletter.services import Services
from tests.factories import add_article, add_subscribers

# 2026-W48. The first list keeps the settings' defaults (London: compose Fri 27 Nov 16:00 UTC,
# send Sat 28 Nov 07:00 UTC); Tech Notes composes Mon 09:00 and sends Tue 08:00 in Berlin (UTC+1).
FIRST_COMPOSE = datetime(2026, 11, 27, 16, 0, tzinfo=timezone.utc)
FIRST_SEND = datetime(2026, 11, 28, 7, 0, tzinfo=timezone.utc)
B_COMPOSE = datetime(2026, 11, 23, 8, 0, tzinfo=timezone.utc)
B_SEND = datetime(2026, 11, 24, 7, 0, tzinfo=timezone.utc)


def _tick(runner: CycleRunner, moment: datetime) -> list[CycleEvent]:
    with time_machine.travel(moment, tick=False):
        return runner.tick(moment)


def _b_article(services: Services, list_id: int, title: str, when: datetime) -> None:
    source = add_source(services.sessions, "https://feeds.example.org/tech.xml", list_id=list_id)
    add_article(services.sessions, title, when)
    with services.sessions.begin() as session:
        session.scalars(select(Article).where(Article.title == title)).one().source_id = source.id


def _recipients(services: Services, issue_id: int) -> set[str]:
    with services.sessions() as session:
        return set(session.scalars(select(Subscriber.email).join(Delivery, Delivery.subscriber_id == Subscriber.id)
                                   .where(Delivery.issue_id == issue_id)))


def test_two_lists_each_get_their_own_issue_composed_and_sent_once_at_their_own_times(services: Services) -> None:
    b = create_list(services.sessions, "Tech Notes")
    assert cycle_lists(services.sessions) == [FIRST_LIST_ID]  # a new list starts no weekly emails by itself
    update_schedule(services.sessions, services.settings, compose="mon 09:00", send="tue 08:00",
                    time_zone="Europe/Berlin", list_id=b.id)
    assert cycle_lists(services.sessions) == [FIRST_LIST_ID, b.id]
    add_subscribers(services.sessions, 2, prefix="first")
    add_subscribers(services.sessions, 2, prefix="tech", list_id=b.id)
    add_article(services.sessions, "A first-list piece", datetime(2026, 11, 25, 12, tzinfo=timezone.utc))
    _b_article(services, b.id, "A tech piece", datetime(2026, 11, 22, 12, tzinfo=timezone.utc))

    runner = CycleRunner(services)
    seen: list[tuple[datetime, CycleEvent]] = []
    moment = datetime(2026, 11, 23, 0, 0, tzinfo=timezone.utc)  # Monday; every 30 minutes to Sunday
    while moment < datetime(2026, 11, 30, tzinfo=timezone.utc):
        seen += [(moment, e) for e in _tick(runner, moment) if e.week == "2026-W48"]
        moment += timedelta(minutes=30)

    done = {(e.list_id, e.kind): at for at, e in seen}
    assert sorted(done) == [(FIRST_LIST_ID, "composed"), (FIRST_LIST_ID, "queued"), (b.id, "composed"),
                            (b.id, "queued")]
    assert len(seen) == 4  # each step once
    assert done[(b.id, "composed")] == B_COMPOSE and done[(b.id, "queued")] == B_SEND
    assert done[(FIRST_LIST_ID, "composed")] == FIRST_COMPOSE and done[(FIRST_LIST_ID, "queued")] == FIRST_SEND

    with services.sessions() as session:
        issues = {i.list_id: i for i in session.scalars(select(Issue).where(Issue.week == "2026-W48"))}
        rows = {r.list_id: r for r in session.scalars(select(WeeklyCycle).where(WeeklyCycle.week == "2026-W48"))}
    assert issues[b.id].subject.startswith("Tech Notes #") and issues[FIRST_LIST_ID].subject.startswith("The Test")
    assert {lid: r.issue_id for lid, r in rows.items()} == {lid: i.id for lid, i in issues.items()}
    assert _recipients(services, issues[b.id].id) == {"tech0@example.net", "tech1@example.net"}
    assert _recipients(services, issues[FIRST_LIST_ID].id) == {"first0@example.net", "first1@example.net"}

    Worker(services.store, services.backend, services.settings, services.links).run(drain=True)
    moment = datetime(2026, 11, 29, 12, tzinfo=timezone.utc)
    assert {(e.list_id, e.kind) for e in _tick(runner, moment) if e.week == "2026-W48"} == {
        (FIRST_LIST_ID, "sent"), (b.id, "sent")}
    assert {r.state for r in rows.values()} == {CycleState.SENDING}
    assert [e for e in _tick(runner, moment + timedelta(minutes=1)) if e.week == "2026-W48"] == []
