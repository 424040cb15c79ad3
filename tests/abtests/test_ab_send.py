"""An A/B subject test end to end: the test share split between the subjects, each reader's
message under its subject, the winner decided by the scheduler after the wait (never before) and
sent to the rest, nobody mailed twice, and an issue without a test queued exactly as before."""

from __future__ import annotations

import email
from collections import Counter
from datetime import datetime, timedelta, timezone
from email import policy

import pytest
from sqlalchemy import func, select

from newsletter.abtests.decide import AbTestStateError, decide
from newsletter.abtests.figures import load_summary
from newsletter.abtests.plan import set_test
from newsletter.delivery.dispatch import Worker
from newsletter.delivery.models import Delivery
from newsletter.issues.compose import compose
from newsletter.issues.list_profile import save_profile
from newsletter.issues.models import Issue, IssueStatus
from newsletter.issues.tracking import OPEN, record
from newsletter.readers.models import Subscriber
from newsletter.schedule.cycle import CycleRunner
from newsletter.services import Services
from tests.factories import add_article, add_subscribers
from tests.issues.test_send_once import at_once
from tests.mail.test_dkim import _keys, _verify_all

QUEUED_AT = datetime(2026, 11, 30, 9, 0, tzinfo=timezone.utc)  # the test's own clock: never the machine's
SUBJECTS = ["Rivers are back", "What the rivers told us"]


def _issue(services: Services, readers: int = 100) -> int:
    save_profile(services.sessions, services.settings, tracking_enabled=True)
    add_article(services.sessions, "Rivers")
    add_subscribers(services.sessions, readers)
    return compose(services.sessions, services.settings).issue_id


def _worker(services: Services) -> Worker:
    return Worker(services.store, services.backend, services.settings, services.links)


def _subjects_by_reader(services: Services) -> dict[str, list[str]]:
    got: dict[str, list[str]] = {}
    for message in services.backend.sent:  # type: ignore[attr-defined]
        parsed = email.message_from_bytes(message.data, policy=policy.default)
        got.setdefault(message.recipient, []).append(str(parsed["Subject"]))
    return got


def _variants(services: Services, issue_id: int) -> dict[int, int | None]:
    with services.sessions() as session:
        return dict(session.execute(
            select(Delivery.subscriber_id, Delivery.variant).where(Delivery.issue_id == issue_id)).all())


def test_each_subject_goes_to_its_share_then_the_winner_to_the_rest(services: Services) -> None:
    issue_id = _issue(services)
    with services.sessions() as session:
        own = session.get(Issue, issue_id).subject  # type: ignore[union-attr]
    set_test(services.sessions, services.settings, issue_id, SUBJECTS, fraction=0.3, wait_hours=4)

    assert services.publisher.queue(issue_id, now=QUEUED_AT).queued == 30
    variants = _variants(services, issue_id)
    assert Counter(variants.values()) == {0: 10, 1: 10, 2: 10}
    _worker(services).run(drain=True)

    subjects = [own, *SUBJECTS]
    sent = _subjects_by_reader(services)
    assert len(sent) == 30
    with services.sessions() as session:
        address = dict(session.execute(select(Subscriber.id, Subscriber.email)).all())
    assert sent == {address[sid]: [subjects[v]] for sid, v in variants.items() if v is not None}

    # Variant B's readers open it (one twice: still one reader); one of A's opens once.
    b_readers = [sid for sid, v in variants.items() if v == 1]
    a_readers = [sid for sid, v in variants.items() if v == 0]
    for sid in [*b_readers[:4], b_readers[0], a_readers[0]]:
        assert record(services.sessions, issue_id, sid, OPEN)

    # Sent out, but the issue is not sent: the winner is still to come.
    assert services.store.finish_issues() == []
    runner = CycleRunner(services)
    before = runner.tick(QUEUED_AT + timedelta(hours=3, minutes=59))
    assert not [e for e in before if e.kind == "ab_decided"]
    assert len(_variants(services, issue_id)) == 30

    after = runner.tick(QUEUED_AT + timedelta(hours=4))
    decided = [e for e in after if e.kind == "ab_decided"]
    assert len(decided) == 1 and "subject B won" in decided[0].detail and "70 more" in decided[0].detail
    summary = load_summary(services.sessions, issue_id)
    assert summary is not None and summary.state == "decided" and summary.winner == 1
    assert [(v.letter, v.sent, v.unique_opens) for v in summary.variants] == [("A", 10, 1), ("B", 10, 4), ("C", 10, 0)]

    _worker(services).run(drain=True)
    sent = _subjects_by_reader(services)
    assert len(sent) == 100 and all(len(got) == 1 for got in sent.values())  # every reader exactly once
    assert Counter(got[0] for got in sent.values()) == {own: 10, SUBJECTS[0]: 80, SUBJECTS[1]: 10}
    services.store.finish_issues()  # the worker marked it sent as its queue ran dry
    with services.sessions() as session:
        issue = session.get(Issue, issue_id)
        assert issue is not None and issue.subject == SUBJECTS[0] and issue.status is IssueStatus.SENT
    # A later tick finds nothing more to decide.
    assert not [e for e in runner.tick(QUEUED_AT + timedelta(hours=5)) if e.kind == "ab_decided"]


def test_two_decisions_at_once_queue_the_rest_once(services: Services) -> None:
    issue_id = _issue(services, readers=40)
    set_test(services.sessions, services.settings, issue_id, SUBJECTS[:1], fraction=0.5, metric="clicks")
    assert services.publisher.queue(issue_id, now=QUEUED_AT).queued == 20
    results = at_once([lambda: decide(services, issue_id, QUEUED_AT + timedelta(minutes=1))] * 3)
    won = [r for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, AbTestStateError)]
    assert len(won) == 1 and len(refused) == 2, results
    assert won[0].queued == 20 and won[0].winner == 0  # no clicks at all: A, the issue's own
    assert "it is decided (A won)" in str(refused[0])
    with services.sessions() as session:
        assert session.scalar(select(func.count()).where(Delivery.issue_id == issue_id)) == 40


def test_nothing_to_decide_is_said_clearly(services: Services) -> None:
    issue_id = _issue(services, readers=5)
    with pytest.raises(AbTestStateError, match="it has none"):
        decide(services, issue_id, QUEUED_AT)
    set_test(services.sessions, services.settings, issue_id, SUBJECTS)
    with pytest.raises(AbTestStateError, match="not sent yet"):
        decide(services, issue_id, QUEUED_AT)


def test_an_issue_without_a_test_is_queued_as_before(services: Services) -> None:
    issue_id = _issue(services, readers=25)
    assert services.publisher.queue(issue_id, now=QUEUED_AT).queued == 25
    assert set(_variants(services, issue_id).values()) == {None}
    assert load_summary(services.sessions, issue_id) is None
    _worker(services).run(drain=True)
    with services.sessions() as session:
        assert session.scalar(select(Issue.status).where(Issue.id == issue_id)) is IssueStatus.SENT


def test_a_cancelled_test_issue_is_never_decided(services: Services) -> None:
    issue_id = _issue(services, readers=10)
    set_test(services.sessions, services.settings, issue_id, SUBJECTS, fraction=0.3)
    services.publisher.queue(issue_id, now=QUEUED_AT)
    services.publisher.cancel(issue_id)
    assert not [e for e in CycleRunner(services).tick(QUEUED_AT + timedelta(days=1)) if e.kind == "ab_decided"]
    with pytest.raises(AbTestStateError, match="the issue is cancelled"):
        decide(services, issue_id, QUEUED_AT + timedelta(days=1))


def test_each_subject_is_signed_as_it_is_sent(services: Services, tmp_path) -> None:  # type: ignore[no-untyped-def]
    keys, records = _keys(tmp_path, ("rsa", "ed25519"))
    issue_id = _issue(services, readers=12)
    set_test(services.sessions, services.settings, issue_id, SUBJECTS, fraction=0.5)
    services.publisher.queue(issue_id, now=QUEUED_AT)
    settings = services.settings.model_copy(update={"dkim_keys": keys, "dkim_domain": "example.org"})
    assert Worker(services.store, services.backend, settings, services.links).run(drain=True) == 6
    sent = services.backend.sent  # type: ignore[attr-defined]
    assert len({m.data.split(b"Subject: ")[1].split(b"\r\n")[0] for m in sent}) == 3
    assert all(_verify_all(m.data, records) for m in sent)
    # A forged subject breaks the signature: each variant's compiled message signed its own.
    forged = sent[0].data.replace(b"Subject: ", b"Subject: X", 1)
    assert not _verify_all(forged, records)


def test_later_waves_add_nobody_while_the_test_runs(services: Services) -> None:
    issue_id = _issue(services, readers=20)
    set_test(services.sessions, services.settings, issue_id, SUBJECTS[:1], fraction=0.5)
    # A local-time send's first wave: the test share comes from the whole list, at once.
    assert services.publisher.queue(issue_id, zones=["Pacific/Auckland"], default_zone="Europe/London",
                                    now=QUEUED_AT).queued == 10
    assert services.publisher.queue_more(issue_id, zones=["Europe/London"], default_zone="Europe/London").queued == 0
    assert len(_variants(services, issue_id)) == 10
    assert decide(services, issue_id, QUEUED_AT + timedelta(hours=1)).queued == 10
    assert services.publisher.queue_more(issue_id).queued == 0
    assert set(Counter(_variants(services, issue_id).values()).values()) == {5, 10}  # A 5, B 5, the rest 10
