"""Consent per list: a public sign-up never puts anyone on a list until their mailbox confirms."""

from __future__ import annotations

import email
import email.policy
from datetime import datetime, timedelta
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import select

from newsletter.content.models import Article
from newsletter.content.sources import add_source
from newsletter.delivery.dispatch import Worker
from newsletter.delivery.models import Delivery
from newsletter.inbound.handler import InboundHandler
from newsletter.issues.compose import Week, compose
from newsletter.lists.catalog import create_list
from newsletter.lists.models import FIRST_LIST_ID, Subscription, SubscriptionStatus
from newsletter.readers.importer import import_csv
from newsletter.readers.models import Subscriber, SubscriberStatus
from newsletter.readers.subscriptions import MAX_CONFIRMATIONS, SubscribeOutcome
from newsletter.services import Services
from tests.factories import add_article
from tests.web.public.test_pages import confirm_path

WEEK = Week(2026, 48)
IN_WEEK = WEEK.bounds(__import__("zoneinfo").ZoneInfo("Europe/London"))[0].replace(hour=12)


def _subscriptions(services: Services, subscriber_id: int) -> dict[int, SubscriptionStatus]:
    with services.sessions() as session:
        return {row.list_id: row.status for row in session.scalars(
            select(Subscription).where(Subscription.subscriber_id == subscriber_id))}


def _mails_to(services: Services, to: str) -> list[email.message.EmailMessage]:
    return [email.message_from_bytes(m.data, policy=email.policy.default)  # type: ignore[misc]
            for m in services.backend.sent if m.recipient == to]  # type: ignore[attr-defined]


def _b_article(services: Services, list_id: int, title: str, when: datetime) -> None:
    """An article of list B's (from a source of B's)."""
    source = add_source(services.sessions, f"https://feeds.example.org/{len(title)}-{when:%V}.xml", list_id=list_id)
    add_article(services.sessions, title, when)
    with services.sessions.begin() as session:
        session.scalars(select(Article).where(Article.title == title)).one().source_id = source.id


def _send_b(services: Services, list_id: int, week: Week = WEEK) -> set[str]:
    """Compose and queue list B's week, run the worker; who B's issue was queued for."""
    issue = compose(services.sessions, services.settings, week, list_id=list_id)
    services.publisher.queue(issue.issue_id, force=True)
    Worker(services.store, services.backend, services.settings, services.links).run(drain=True)
    with services.sessions() as session:
        return set(session.scalars(select(Subscriber.email).join(Delivery, Delivery.subscriber_id == Subscriber.id)
                                   .where(Delivery.issue_id == issue.issue_id)))


def test_a_strangers_sign_up_of_an_active_reader_to_list_b_queues_nothing_until_they_confirm(
        client: TestClient, services: Services) -> None:
    b = create_list(services.sessions, "Tech Notes")
    ana = services.subscriptions.add_subscriber("ana@example.org", "Ana", confirmed=True, source="cli")
    _b_article(services, b.id, "A piece", IN_WEEK)

    # Someone who knows Ana's address signs her up to B through B's public page.
    answer = client.post("/n/tech-notes/subscribe", data={"email": "ana@example.org", "name": "Mallory"})
    assert answer.status_code == 200 and "Check your inbox" in answer.text
    assert _subscriptions(services, ana.id) == {FIRST_LIST_ID: SubscriptionStatus.ACTIVE,
                                                b.id: SubscriptionStatus.PENDING}
    [asked] = _mails_to(services, "ana@example.org")
    assert asked["Subject"] == "Confirm your subscription to Tech Notes"  # it names the list
    with services.sessions() as session:
        reader = session.get(Subscriber, ana.id)
        assert reader is not None and reader.status is SubscriberStatus.ACTIVE and reader.name == "Ana"

    first = _send_b(services, b.id)
    assert "ana@example.org" not in first

    # Ana follows the link: B is hers now, and B's next send reaches her.
    assert client.get(confirm_path(services, "ana@example.org")).status_code == 200
    assert _subscriptions(services, ana.id) == {FIRST_LIST_ID: SubscriptionStatus.ACTIVE,
                                                b.id: SubscriptionStatus.ACTIVE}
    _b_article(services, b.id, "Next piece", IN_WEEK + timedelta(days=7))
    assert _send_b(services, b.id, Week(2026, 49)) == {"ana@example.org"}
    assert any("Tech Notes" in str(m["From"]) for m in _mails_to(services, "ana@example.org")[1:])


def test_an_active_reader_on_the_list_is_sent_nothing_and_confirmations_keep_their_limit(services: Services) -> None:
    b = create_list(services.sessions, "Tech Notes")
    ana = services.subscriptions.add_subscriber("ana@example.org", confirmed=True, source="cli")
    assert services.subscriptions.subscribe("ana@example.org").outcome is SubscribeOutcome.ALREADY_SUBSCRIBED
    assert _mails_to(services, "ana@example.org") == []

    outcomes = [services.subscriptions.subscribe("ana@example.org", list_id=b.id).outcome
                for _ in range(MAX_CONFIRMATIONS + 1)]
    assert outcomes == [SubscribeOutcome.CONFIRMATION_SENT] * MAX_CONFIRMATIONS + [
        SubscribeOutcome.TOO_MANY_CONFIRMATIONS]
    assert len(_mails_to(services, "ana@example.org")) == MAX_CONFIRMATIONS
    assert _subscriptions(services, ana.id)[b.id] is SubscriptionStatus.PENDING


def test_a_new_readers_first_list_waits_on_confirmation_and_leaving_drops_what_waits(services: Services) -> None:
    b = create_list(services.sessions, "Tech Notes")
    new = services.subscriptions.subscribe("new@example.org", list_id=b.id)
    assert new.outcome is SubscribeOutcome.CONFIRMATION_SENT
    assert _subscriptions(services, new.subscriber_id) == {b.id: SubscriptionStatus.PENDING}
    with services.sessions() as session:
        reader = session.get(Subscriber, new.subscriber_id)
        assert reader is not None and reader.status is SubscriberStatus.PENDING
    services.subscriptions.confirm(new.subscriber_id, "new@example.org")
    assert _subscriptions(services, new.subscriber_id) == {b.id: SubscriptionStatus.ACTIVE}

    # A stranger asks for the first list too; the reader then leaves B, their only list: they are
    # unsubscribed, and the request still waiting is gone (no restore brings it back).
    services.subscriptions.subscribe("new@example.org")
    after = services.subscriptions.unsubscribe(new.subscriber_id, list_id=b.id)
    assert after.status is SubscriberStatus.UNSUBSCRIBED
    assert _subscriptions(services, new.subscriber_id) == {b.id: SubscriptionStatus.UNSUBSCRIBED}


def test_the_subscribe_address_and_a_confirm_reply_follow_the_same_consent(services: Services) -> None:
    create_list(services.sessions, "Tech Notes")
    ana = services.subscriptions.add_subscriber("ana@example.org", confirmed=True, source="cli")
    services.subscriptions.unsubscribe(ana.id)  # left the first list (and so the installation)
    handler = InboundHandler(services)
    domain = services.settings.mail_domain
    lines = handler.handle("ana@example.org", [f"subscribe@{domain}"],
                           b"From: ana@example.org\r\nSubject: subscribe\r\n\r\nplease\r\n")
    assert lines == [f"subscribe: confirmation sent to subscriber {ana.id}"]
    assert _subscriptions(services, ana.id) == {FIRST_LIST_ID: SubscriptionStatus.PENDING}
    [asked] = _mails_to(services, "ana@example.org")
    reply_to = asked["Reply-To"]
    lines = handler.handle("ana@example.org", [reply_to], b"From: ana@example.org\r\nSubject: Re: confirm\r\n\r\nyes\r\n")
    assert lines == [f"confirm: subscriber {ana.id} is now active (reply)"]
    assert _subscriptions(services, ana.id) == {FIRST_LIST_ID: SubscriptionStatus.ACTIVE}


def test_an_import_not_opted_in_waits_and_an_opted_in_one_is_active(services: Services, tmp_path: Path) -> None:
    b = create_list(services.sessions, "Tech Notes")
    csv = tmp_path / "readers.csv"
    csv.write_text("email\nnew@example.org\n")
    report = import_csv(services.sessions, csv, confirmed=False, list_id=b.id)
    [pending_id] = report.pending
    assert _subscriptions(services, pending_id) == {b.id: SubscriptionStatus.PENDING}
    services.subscriptions.confirm(pending_id, "new@example.org")
    assert _subscriptions(services, pending_id) == {b.id: SubscriptionStatus.ACTIVE}

    csv.write_text("email\nopted@example.org\n")
    import_csv(services.sessions, csv, confirmed=True, list_id=b.id)
    with services.sessions() as session:
        opted = session.scalars(select(Subscriber).where(Subscriber.email == "opted@example.org")).one()
    assert _subscriptions(services, opted.id) == {b.id: SubscriptionStatus.ACTIVE}
