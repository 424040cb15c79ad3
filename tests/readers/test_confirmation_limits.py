"""The confirmation email: at most three a day to one address, starting afresh on confirming, from
every entry point; and it never carries the name a stranger typed."""

from __future__ import annotations

import email
import email.policy
from datetime import datetime, timedelta, timezone
from email.message import EmailMessage

import pytest
from fastapi.testclient import TestClient

from newsletter.inbound.handler import InboundHandler
from newsletter.mail.backends.memory import MemoryBackend
from newsletter.readers.models import Subscriber, SubscriberStatus
from newsletter.readers.subscriptions import MAX_CONFIRMATIONS, SubscribeOutcome
from newsletter.services import Services
from tests.clock import moved_clock

# A fixed moment for the code that takes ``now``; no test here reads the real clock.
T0 = datetime(2026, 3, 4, 9, 0, tzinfo=timezone.utc)
SENT = SubscribeOutcome.CONFIRMATION_SENT
TOO_MANY = SubscribeOutcome.TOO_MANY_CONFIRMATIONS


def memory(services: Services) -> MemoryBackend:
    assert isinstance(services.backend, MemoryBackend)
    return services.backend


def mails_to(services: Services, address: str) -> list[EmailMessage]:
    return [
        email.message_from_bytes(m.data, policy=email.policy.default)  # type: ignore[misc]
        for m in memory(services).sent
        if m.recipient == address
    ]


def test_four_sign_ups_in_one_day_send_three_mails(services: Services) -> None:
    outcomes = [services.subscriptions.subscribe("ana@example.org", now=T0 + timedelta(hours=h)).outcome
                for h in (0, 1, 2, 23)]
    assert outcomes == [SENT, SENT, SENT, TOO_MANY]
    assert len(mails_to(services, "ana@example.org")) == MAX_CONFIRMATIONS == 3


def test_a_day_later_the_address_gets_confirmations_again(services: Services) -> None:
    for h in range(3):
        services.subscriptions.subscribe("ana@example.org", now=T0 + timedelta(hours=h))
    assert services.subscriptions.subscribe("ana@example.org", now=T0 + timedelta(hours=23, minutes=59)).outcome \
        is TOO_MANY
    assert services.subscriptions.subscribe("ana@example.org", now=T0 + timedelta(days=1)).outcome is SENT
    assert len(mails_to(services, "ana@example.org")) == 4


def test_confirming_resets_the_count(services: Services) -> None:
    sid = 0
    for h in range(3):
        sid = services.subscriptions.subscribe("ana@example.org", now=T0 + timedelta(hours=h)).subscriber_id
    services.subscriptions.confirm(sid, "ana@example.org")
    services.subscriptions.unsubscribe(sid)
    # The same day: the address was proven by the confirmation, so leaving and rejoining is not refused.
    assert services.subscriptions.subscribe("ana@example.org", now=T0 + timedelta(hours=4)).outcome is SENT
    assert len(mails_to(services, "ana@example.org")) == 4


def test_a_reader_who_leaves_and_rejoins_over_the_years_is_never_shut_out(services: Services) -> None:
    for year in range(5):
        result = services.subscriptions.subscribe("ana@example.org", now=T0 + timedelta(days=365 * year))
        assert result.outcome is SENT, f"rejoining in year {year}"
        services.subscriptions.confirm(result.subscriber_id, "ana@example.org")
        services.subscriptions.unsubscribe(result.subscriber_id)
    assert len(mails_to(services, "ana@example.org")) == 5


def test_a_reader_shut_out_under_the_old_rule_is_let_in(services: Services) -> None:
    # Before the window, three confirmations ever meant none again (the migration adds no window start).
    with services.sessions.begin() as session:
        session.add(Subscriber(email="ana@example.org", status=SubscriberStatus.UNSUBSCRIBED, confirmations_sent=3))
    assert services.subscriptions.subscribe("ana@example.org", now=T0).outcome is SENT


def test_imports_resend_under_the_same_allowance(services: Services) -> None:
    sid = services.subscriptions.subscribe("ana@example.org", now=T0).subscriber_id
    sent = [services.subscriptions.send_confirmation(sid, now=T0 + timedelta(hours=h)) for h in (1, 2, 3)]
    assert sent == [True, True, False]
    assert services.subscriptions.send_confirmation(sid, now=T0 + timedelta(days=1)) is True


def test_the_api_says_so_when_the_limit_is_hit_and_not_a_day_later(client: TestClient, services: Services) -> None:
    # The API is the editor's: telling them the address had its emails reveals nothing to a stranger.
    client.headers["Authorization"] = "Bearer " + services.api_tokens.create("tests").token
    with moved_clock(T0):
        outcomes = [client.post("/api/v1/subscribers", json={"email": "ana@example.org"}).json()["outcome"]
                    for _ in range(4)]
    assert outcomes[-2:] == ["confirmation_sent", "too_many_confirmations"]
    with moved_clock(T0 + timedelta(days=1, minutes=1)):
        again = client.post("/api/v1/subscribers", json={"email": "ana@example.org"}).json()
    assert again["outcome"] == "confirmation_sent"
    assert len(mails_to(services, "ana@example.org")) == 4


LONG_NAME = "Win a prize at https://evil.example/claim now " + "A" * 154


@pytest.mark.parametrize("name", [LONG_NAME, "Ana " + "B" * 196])
def test_the_name_typed_at_sign_up_is_not_echoed_into_the_confirmation(services: Services, name: str) -> None:
    assert len(name) == 200
    services.subscriptions.subscribe("ana@example.org", name, now=T0)
    [message] = mails_to(services, "ana@example.org")
    assert str(message["To"]) == "ana@example.org"  # no display name at all
    text = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    assert text is not None and html is not None
    assert text.get_content().startswith("Hello,")
    for part in (text.get_content(), html.get_content(), str(message)):
        assert "evil.example" not in part and "BBBB" not in part
    with services.sessions() as session:
        [reader] = session.query(Subscriber).all()
    # Kept for after the confirmation: short and plain, and nothing that looks like a link.
    assert reader.name == ("" if name == LONG_NAME else ("Ana " + "B" * 196)[:60])


def test_a_strangers_sign_up_never_renames_a_reader_who_confirmed(services: Services) -> None:
    sid = services.subscriptions.subscribe("ana@example.org", "Ana", now=T0).subscriber_id
    services.subscriptions.confirm(sid, "ana@example.org")
    services.subscriptions.unsubscribe(sid)
    services.subscriptions.subscribe("ana@example.org", "Mallory", now=T0 + timedelta(hours=1))
    with services.sessions() as session:
        reader = session.get(Subscriber, sid)
        assert reader is not None and reader.name == "Ana"


def test_subscribe_by_email_is_under_the_same_allowance(services: Services) -> None:
    handler = InboundHandler(services)
    domain = services.settings.mail_domain
    data = (f"From: ana@example.org\r\nTo: subscribe@{domain}\r\nSubject: subscribe\r\n"
            "Message-ID: <m1@example.org>\r\n\r\nsubscribe\r\n").encode()

    def confirmations() -> int:
        return sum("Confirm your subscription" in str(m["Subject"]) for m in mails_to(services, "ana@example.org"))

    with moved_clock(T0):
        for _ in range(4):
            handler.handle("ana@example.org", [f"subscribe@{domain}"], data)
    assert confirmations() == 3
    with moved_clock(T0 + timedelta(days=1, minutes=1)):
        handler.handle("ana@example.org", [f"subscribe@{domain}"], data)
    assert confirmations() == 4
