"""The send engine on SQLite and PostgreSQL: one delivery per reader, every outcome recorded."""

from __future__ import annotations

import email
import email.policy
import threading
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from newsletter.mail.backends import BackendError, SendResult, SendStatus
from newsletter.mail.backends.memory import MemoryBackend
from newsletter.issues.compose import compose
from newsletter.delivery.dispatch import Worker
from newsletter.delivery.models import Delivery, DeliveryStatus
from newsletter.issues.models import Issue, IssueStatus
from newsletter.issues.publishing import IssueStateError
from newsletter.readers.models import Subscriber, SubscriberStatus
from newsletter.services import Services
from tests.factories import subscribed, add_article, add_subscribers


def worker(services, backend=None, **overrides):
    settings = services.settings.model_copy(update=overrides) if overrides else services.settings
    return Worker(services.store, backend or services.backend, settings, services.links)


def deliveries(services):
    with services.sessions() as session:
        return {d.subscriber_id: d for d in session.scalars(select(Delivery))}


def test_send_queues_one_delivery_per_active_reader_and_sends_each_once(services, issue_id):
    active = add_subscribers(services.sessions, 5)
    add_subscribers(services.sessions, 2, SubscriberStatus.PENDING, prefix="pending")
    add_subscribers(services.sessions, 1, SubscriberStatus.UNSUBSCRIBED, prefix="gone")

    assert services.publisher.queue(issue_id).queued == 5
    assert worker(services).run(drain=True) == 5

    sent = services.backend.sent
    assert sorted(m.recipient for m in sent) == sorted(f"reader{i}@example.net" for i in range(5))
    rows = deliveries(services)
    assert set(rows) == set(active)
    assert all(d.status is DeliveryStatus.SENT and d.sent_at and d.attempts == 1 for d in rows.values())
    # The Message-ID is derived from (issue, reader): a duplicate after a crash is recognisable.
    assert len({d.message_id for d in rows.values()}) == 5
    with services.sessions() as session:
        assert session.get(Issue, issue_id).status is IssueStatus.SENT

    # Sending the same issue again is refused: an issue is sent once.
    with pytest.raises(IssueStateError, match=f"cannot send issue {issue_id}: it is sent"):
        services.publisher.queue(issue_id)
    assert worker(services).run(drain=True) == 0
    assert len(services.backend.sent) == 5


def test_each_reader_gets_their_own_valid_message(services, issue_id):
    [reader] = add_subscribers(services.sessions, 1)
    services.publisher.queue(issue_id)
    worker(services).run(drain=True)
    [message] = services.backend.sent
    parsed = email.message_from_bytes(message.data, policy=email.policy.default)
    assert parsed["To"].addresses[0].display_name == "Reader 0"
    assert parsed["Message-ID"] == message.message_id
    unsubscribe = services.links.unsubscribe(reader)
    assert unsubscribe in parsed["List-Unsubscribe"]
    assert parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert unsubscribe in parsed.get_body(("plain",)).get_content()
    assert "Hi Reader 0" in parsed.get_body(("html",)).get_content()


def test_outcomes_follow_the_smtp_failure_model(services, issue_id):
    add_subscribers(services.sessions, 4)
    backend = MemoryBackend(
        services.settings,
        outcomes={
            "reader1@example.net": SendResult(SendStatus.BOUNCED, 550, "5.1.1 no such user"),
            "reader2@example.net": SendResult(SendStatus.DEFERRED, 451, "4.3.0 try later"),
            "reader3@example.net": SendResult(SendStatus.DEFERRED, None, "lost", possibly_sent=True),
        },
    )
    services.publisher.queue(issue_id)
    worker(services, backend).run(drain=True)

    by_email = {}
    with services.sessions() as session:
        for d, s in session.execute(select(Delivery, Subscriber).join(Subscriber)):
            by_email[s.email] = (d, s)
    assert by_email["reader0@example.net"][0].status is DeliveryStatus.SENT
    bounced, reader = by_email["reader1@example.net"]
    assert bounced.status is DeliveryStatus.BOUNCED and bounced.last_code == 550
    assert reader.status is SubscriberStatus.BOUNCED  # suppressed from later sends
    deferred = by_email["reader2@example.net"][0]
    assert deferred.status is DeliveryStatus.DEFERRED and deferred.last_code == 451
    # Both times by the database's clock: queued now, retried after the back-off.
    assert deferred.next_attempt_at > deferred.created_at + timedelta(seconds=200)
    assert "possibly sent" in by_email["reader3@example.net"][0].last_reply
    with services.sessions() as session:
        assert session.get(Issue, issue_id).status is IssueStatus.SENDING  # retries still owed


def test_a_reply_with_a_nul_byte_is_recorded_not_a_failed_write(services, issue_id):
    """A hostile server's reply is stored with its NUL replaced: PostgreSQL refuses NUL in text,
    and a failed write after sending would send the whole group again."""
    add_subscribers(services.sessions, 3)
    backend = MemoryBackend(
        services.settings,
        outcomes={"reader1@example.net": SendResult(SendStatus.DEFERRED, 451, "4.3.0 busy\x00\x00 try later")},
    )
    services.publisher.queue(issue_id)
    worker(services, backend).run(drain=True)
    with services.sessions() as session:
        rows = {email: reply for email, reply in session.execute(
            select(Subscriber.email, Delivery.last_reply).join(Delivery, Delivery.subscriber_id == Subscriber.id))}
    assert rows["reader1@example.net"] == "4.3.0 busy\ufffd\ufffd try later"
    assert len(backend.sent) == 2


def test_deferred_deliveries_are_retried_then_fail_after_max_attempts(services, issue_id):
    add_subscribers(services.sessions, 1)
    always_busy = MemoryBackend(
        services.settings, outcomes={"reader0@example.net": SendResult(SendStatus.DEFERRED, 452, "full")}
    )
    services.publisher.queue(issue_id)
    for attempt in range(1, 4):
        worker(services, always_busy, max_attempts=3).run(drain=True)
        [row] = deliveries(services).values()
        assert row.attempts == attempt
        # Not due yet: a drain claims nothing until the back-off has passed.
        assert worker(services, always_busy, max_attempts=3).run(drain=True) == 0
        with services.sessions.begin() as session:  # due now by the database's clock
            session.execute(update(Delivery).values(next_attempt_at=Delivery.created_at))
    [row] = deliveries(services).values()
    assert row.status is DeliveryStatus.FAILED and row.attempts == 3
    with services.sessions() as session:
        assert session.get(Issue, issue_id).status is IssueStatus.SENT


def test_a_dead_backend_loses_nothing(services, issue_id):
    add_subscribers(services.sessions, 3)
    services.publisher.queue(issue_id)
    dead = MemoryBackend(services.settings, fail_with=BackendError("smtp.example.net:25: connection refused"))
    with pytest.raises(BackendError):
        worker(services, dead).run(drain=True)
    rows = deliveries(services).values()
    assert all(d.status is DeliveryStatus.QUEUED and d.attempts == 0 and d.lease_owner is None for d in rows)

    assert worker(services).run(drain=True) == 3
    assert len(services.backend.sent) == 3


def test_a_crashed_workers_batch_is_taken_back_when_its_lease_expires(services, issue_id):
    add_subscribers(services.sessions, 3)
    services.publisher.queue(issue_id)
    claimed = services.store.claim("crashed-worker", 10, lease_seconds=60).claims
    assert len(claimed) == 3
    assert services.store.claim("other", 10, lease_seconds=60).claims == []  # leased, not free
    with services.sessions.begin() as session:  # the lease runs out (by the database's clock)
        session.execute(update(Delivery).values(lease_expires_at=Delivery.created_at))
    retaken = services.store.claim("other", 10, lease_seconds=60).claims
    assert sorted(c.delivery_id for c in retaken) == sorted(c.delivery_id for c in claimed)


def test_parallel_workers_claim_disjoint_batches(services, issue_id):
    add_subscribers(services.sessions, 60)
    services.publisher.queue(issue_id)
    backends = [MemoryBackend(services.settings) for _ in range(4)]
    workers = [worker(services, b, batch_size=5) for b in backends]
    failures: list[BaseException] = []

    def run(w: Worker) -> None:
        try:
            w.run(drain=True)
        except BaseException as exc:  # a worker that stops is a failure of the test, not a warning
            failures.append(exc)

    threads = [threading.Thread(target=run, args=(w,)) for w in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert failures == []
    recipients = [m.recipient for b in backends for m in b.sent]
    assert len(recipients) == 60 and len(set(recipients)) == 60
    assert all(d.status is DeliveryStatus.SENT for d in deliveries(services).values())


def test_a_reader_no_message_can_be_built_for_is_skipped_alone(services, issue_id):
    add_subscribers(services.sessions, 2)
    with services.sessions.begin() as session:
        # Only reachable by writing the table directly: every entry point validates addresses.
        broken = Subscriber(email="broken address@example.net", status=SubscriberStatus.ACTIVE)
        session.add(broken)
        subscribed(session, broken)
    services.publisher.queue(issue_id)
    worker(services).run(drain=True)
    with services.sessions() as session:
        rows = {s.email: d for d, s in session.execute(select(Delivery, Subscriber).join(Subscriber))}
    assert rows["broken address@example.net"].status is DeliveryStatus.SKIPPED
    assert "not sent" in rows["broken address@example.net"].last_reply
    assert [d.status for e, d in rows.items() if e != "broken address@example.net"] == [DeliveryStatus.SENT] * 2


def test_a_broken_template_stops_the_send_before_anyone_is_queued(settings, tmp_path):
    import shutil

    from newsletter.render.issue import TemplateError

    templates = tmp_path / "templates"
    shutil.copytree(settings.templates_dir, templates)
    article = templates / "email" / "_article.mjml.j2"
    article.write_text(article.read_text() + "\n{% if %}\n")
    broken = settings.model_copy(update={"templates_dir": templates})
    services = Services.build(broken, backend=MemoryBackend(broken))
    try:
        add_article(services.sessions, "A piece")
        add_subscribers(services.sessions, 3)
        issue = compose(services.sessions, broken).issue_id
        with pytest.raises(TemplateError, match=r"_article\.mjml\.j2, line \d+"):
            services.publisher.queue(issue)
        assert services.store.counts(issue)["queued"] == 0
        with services.sessions() as session:
            assert session.get(Issue, issue).status is IssueStatus.DRAFT
    finally:
        services.close()


def test_the_status_tally_agrees_with_the_deliveries_through_every_transition(services, issue_id):
    from sqlalchemy import func

    def exact():
        with services.sessions() as session:
            rows = dict(session.execute(select(Delivery.status, func.count()).group_by(Delivery.status)).all())
        return {s.value: rows.get(s, 0) for s in DeliveryStatus}

    add_subscribers(services.sessions, 30)
    backend = MemoryBackend(services.settings, outcomes={
        "reader1@example.net": SendResult(SendStatus.BOUNCED, 550, "no"),
        "reader2@example.net": SendResult(SendStatus.DEFERRED, 451, "later"),
    })
    services.publisher.queue(issue_id)
    assert services.store.counts(issue_id) == exact() and exact()["queued"] == 30
    services.store.claim("crashed", 5, lease_seconds=60)  # leased, never recorded
    assert services.store.counts(issue_id) == exact() and exact()["sending"] == 5
    worker(services, backend, batch_size=10).run_once()
    assert services.store.counts(issue_id) == exact()
    services.publisher.pause(issue_id)
    services.publisher.resume(issue_id)
    worker(services, backend, batch_size=10).run_once()
    skipped = services.publisher.cancel(issue_id)
    counts = services.store.counts(issue_id)
    assert counts == exact() and counts["skipped"] == skipped > 0
    assert sum(counts.values()) == 30


def test_a_lost_database_stops_the_worker_with_a_clear_error_and_marks_nothing(services, issue_id):
    from newsletter.db.engine import make_engine, session_factory
    from newsletter.delivery.types import StoreUnavailable
    from newsletter.delivery.store import SqlDeliveryStore

    add_subscribers(services.sessions, 3)
    services.publisher.queue(issue_id)
    dead = make_engine("postgresql://postgres@127.0.0.1:1/gone")
    lost = SqlDeliveryStore(session_factory(dead), services.suppression)
    engine = Worker(lost, services.backend, services.settings, services.links)
    with pytest.raises(StoreUnavailable, match="lost the database connection"):
        engine.run(until_idle=True)
    dead.dispose()
    assert services.backend.sent == []
    assert services.store.counts(issue_id)["queued"] == 3
