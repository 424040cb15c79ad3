"""A reader's history on SQLite and PostgreSQL: events recorded where the status changes,
deliveries after a real send, and erasure taking the history with the reader."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import func, select

from newsletter.mail.backends import SendResult, SendStatus
from newsletter.mail.backends.memory import MemoryBackend
from newsletter.issues.compose import compose
from newsletter.delivery.dispatch import Worker
from newsletter.readers.history import SubscriberNotFound, record_event, subscriber_history
from newsletter.readers.importer import import_csv
from newsletter.delivery.models import DeliveryStatus
from newsletter.readers.models import Subscriber, SubscriberEvent, SubscriberEventKind, SubscriberStatus
from newsletter.services import Services
from newsletter.readers.subscriptions import StatusChangeRefused
from tests.cli_runner import Run
from tests.factories import add_article, add_subscribers

K = SubscriberEventKind
SEEDS = Path(__file__).resolve().parents[2] / "seeds"


def kinds(services: Services, subscriber_id: int) -> list[SubscriberEventKind]:
    """Oldest first, as they happened."""
    with services.sessions() as session:
        return [e.kind for e in reversed(subscriber_history(session, subscriber_id).events)]


def events_total(services: Services) -> int:
    with services.sessions() as session:
        return session.scalar(select(func.count()).select_from(SubscriberEvent)) or 0


def test_subscribe_confirm_unsubscribe_and_come_back(services: Services) -> None:
    result = services.subscriptions.subscribe("Ana@Example.org", "Ana", source="web")
    sid = result.subscriber_id
    assert kinds(services, sid) == [K.SUBSCRIBED]
    services.subscriptions.subscribe("ana@example.org")  # a second confirmation: no status change
    assert kinds(services, sid) == [K.SUBSCRIBED]
    services.subscriptions.confirm(sid, "ana@example.org")
    services.subscriptions.confirm(sid, "ana@example.org")  # the link clicked twice
    services.subscriptions.unsubscribe(sid)
    services.subscriptions.unsubscribe(sid)  # Gmail's one-click POST after the click: nothing new
    services.subscriptions.subscribe("ana@example.org", source="email")
    assert kinds(services, sid) == [K.SUBSCRIBED, K.CONFIRMED, K.UNSUBSCRIBED, K.RESUBSCRIBED]

    with services.sessions() as session:
        history = subscriber_history(session, sid)
    assert (history.email, history.name, history.status) == ("ana@example.org", "Ana", SubscriberStatus.PENDING)
    assert history.confirmed_at is not None and history.unsubscribed_at is not None
    newest, *_, oldest = history.events
    assert newest.kind is K.RESUBSCRIBED and "by email" in newest.detail and "was unsubscribed" in newest.detail
    assert oldest.kind is K.SUBSCRIBED and oldest.detail.startswith("via the web form")
    assert all(e.at.tzinfo is not None for e in history.events)
    assert [e.at for e in history.events] == sorted((e.at for e in history.events), reverse=True)


def test_added_by_the_editor_and_status_changes(services: Services) -> None:
    reader, created = services.subscriptions.add("bob@example.org", "Bob", source="cli")
    assert created
    services.subscriptions.set_status(reader.id, SubscriberStatus.UNSUBSCRIBED, by="the editor (test)")
    services.subscriptions.set_status(reader.id, SubscriberStatus.UNSUBSCRIBED)  # no change, no event
    services.subscriptions.set_status(reader.id, SubscriberStatus.ACTIVE)
    assert kinds(services, reader.id) == [K.SUBSCRIBED, K.STATUS_CHANGED, K.STATUS_CHANGED]
    with services.sessions() as session:
        history = subscriber_history(session, reader.id)
    assert history.status is SubscriberStatus.ACTIVE and history.unsubscribed_at is None
    assert history.events[1].detail == "active -> unsubscribed, set by the editor (test)"
    assert "added by the editor (command line)" in history.events[2].detail
    with pytest.raises(StatusChangeRefused):
        services.subscriptions.set_status(reader.id, SubscriberStatus.BOUNCED)
    with pytest.raises(SubscriberNotFound):
        services.subscriptions.set_status(9999, SubscriberStatus.ACTIVE)


def test_a_suppressed_address_is_not_reactivated_by_hand(services: Services) -> None:
    [sid] = add_subscribers(services.sessions, 1, SubscriberStatus.BOUNCED)
    with services.sessions.begin() as session:
        services.suppression.add(session, ["reader0@example.net"], "bounced")
    with pytest.raises(StatusChangeRefused, match="suppression list"):
        services.subscriptions.set_status(sid, SubscriberStatus.ACTIVE)
    assert kinds(services, sid) == []


def test_import_records_one_event_per_new_reader(services: Services, tmp_path: Path) -> None:
    path = tmp_path / "list.csv"
    path.write_text("email,name\nana@example.org,Ana\nbob@example.org,Bob\nana@example.org,Again\n", encoding="utf-8")
    report = import_csv(services.sessions, path, confirmed=True)
    assert report.added == 2
    again = import_csv(services.sessions, path)  # existing readers get no second event
    assert again.added == 0
    with services.sessions() as session:
        ids = {email: sid for email, sid in session.execute(select(Subscriber.email, Subscriber.id))}
        ana = subscriber_history(session, ids["ana@example.org"])
    assert [e.kind for e in ana.events] == [K.IMPORTED]
    assert ana.events[0].detail == "from list.csv; active at once (opted in elsewhere)"
    assert events_total(services) == 2


def test_erasing_a_reader_deletes_their_history(services: Services) -> None:
    sid = services.subscriptions.subscribe("eve@example.org").subscriber_id
    services.subscriptions.confirm(sid, "eve@example.org")
    [other] = add_subscribers(services.sessions, 1)
    with services.sessions.begin() as session:
        record_event(session, other, K.AUTO_REPLY, "out of office")
    assert events_total(services) == 3
    assert services.subscriptions.erase("eve@example.org")
    assert events_total(services) == 1  # only the other reader's
    with services.sessions() as session, pytest.raises(SubscriberNotFound):
        subscriber_history(session, sid)


def test_record_event_joins_the_callers_transaction(services: Services) -> None:
    [sid] = add_subscribers(services.sessions, 1)
    with pytest.raises(RuntimeError), services.sessions.begin() as session:
        record_event(session, sid, K.SOFT_BOUNCE, "4.2.2 mailbox full")
        raise RuntimeError("rolled back")
    assert events_total(services) == 0
    with services.sessions.begin() as session:
        record_event(session, sid, K.BOUNCED, "5.1.1\n  no such user " + "x" * 600)
    with services.sessions() as session:
        [event] = subscriber_history(session, sid).events
    assert event.kind is K.BOUNCED and event.detail.startswith("5.1.1 no such user x") and len(event.detail) == 500


def test_history_lists_deliveries_after_a_real_send(services: Services) -> None:
    add_article(services.sessions, "A week in review")
    issue_id = compose(services.sessions, services.settings).issue_id
    ok, gone = add_subscribers(services.sessions, 2)
    backend = MemoryBackend(
        services.settings, outcomes={"reader1@example.net": SendResult(SendStatus.BOUNCED, 550, "5.1.1 no such user")}
    )
    services.publisher.queue(issue_id)
    Worker(services.store, backend, services.settings, services.links).run(drain=True)
    with services.sessions() as session:
        sent = subscriber_history(session, ok).deliveries
        bounced = subscriber_history(session, gone).deliveries
    [d] = sent
    assert (d.issue_id, d.status, d.attempts, d.error) == (issue_id, DeliveryStatus.SENT, 1, None)
    assert d.sent_at is not None and d.at == d.sent_at and d.subject
    [b] = bounced
    assert b.status is DeliveryStatus.BOUNCED and b.error == "550 5.1.1 no such user" and b.last_code == 550


def test_subscribers_show_json_keeps_its_keys_and_adds_the_history(run: Run, tmp_path: Path) -> None:
    run("subscribers", "add", "ana@example.net", "--name", "Ana")
    shown = json.loads(run("subscribers", "show", "ana@example.net", "--json").stdout)
    assert {"id", "email", "name", "status", "source", "time_zone", "created_at", "confirmed_at",
            "unsubscribed_at", "suppressed", "deliveries"} <= set(shown)
    assert shown["status"] == "active" and shown["deliveries"] == {}  # the counts per state, as before
    [event] = shown["history"]
    assert event["kind"] == "subscribed" and "command line" in event["detail"] and event["at"].endswith("+00:00")
    assert shown["delivery_history"] == []

    run("ingest", str(SEEDS))
    issue = json.loads(run("issues", "compose", "--json").stdout)
    run("issues", "send", str(issue["id"]))
    run("worker", "--until-idle")
    shown = json.loads(run("subscribers", "show", "ana@example.net", "--json").stdout)
    assert shown["deliveries"] == {"sent": 1}
    [delivery] = shown["delivery_history"]
    assert delivery["issue_id"] == issue["id"] and delivery["subject"] == issue["subject"]
    assert (delivery["status"], delivery["attempts"], delivery["error"]) == ("sent", 1, None)
    assert delivery["at"].endswith("+00:00")
    text = run("subscribers", "show", "ana@example.net").stdout
    assert "history (newest first):" in text and "subscribed" in text
    assert f"issue #{issue['number']}  sent (1 attempts)" in text
