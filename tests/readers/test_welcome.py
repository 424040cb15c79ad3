"""The welcome email: off by default; when on, sent once right after confirming, with the reader's links."""

from __future__ import annotations

import email
import email.policy
import logging
import re
from email.message import EmailMessage

import pytest
from fastapi.testclient import TestClient

from newsletter.mail.backends.memory import MemoryBackend
from newsletter.issues.list_profile import save_profile
from newsletter.readers.models import SubscriberStatus
from newsletter.services import Services


def memory(services: Services) -> MemoryBackend:
    assert isinstance(services.backend, MemoryBackend)
    return services.backend


def messages_to(services: Services, address: str) -> list[EmailMessage]:
    return [
        email.message_from_bytes(m.data, policy=email.policy.default)  # type: ignore[misc]
        for m in memory(services).sent
        if m.recipient == address
    ]


def text_of(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())


def sign_up_and_confirm(services: Services, address: str, name: str = "") -> int:
    result = services.subscriptions.subscribe(address, name)
    subscriber_id, token_email = result.subscriber_id, address
    services.subscriptions.confirm(subscriber_id, token_email)
    return subscriber_id


def test_off_by_default_only_the_confirmation_is_sent(services: Services) -> None:
    sign_up_and_confirm(services, "ana@example.org", "Ana")
    [confirmation] = messages_to(services, "ana@example.org")
    assert str(confirmation["Subject"]).startswith("Confirm your subscription")


def test_when_on_it_is_sent_once_after_confirming(services: Services) -> None:
    save_profile(services.sessions, services.settings, welcome_enabled=True,
                 welcome_subject="Welcome aboard", welcome_body_markdown="Thanks for **joining** us.")
    subscriber_id = sign_up_and_confirm(services, "ana@example.org", "Ana")
    services.subscriptions.confirm(subscriber_id, "ana@example.org")  # the link followed twice
    confirmation, welcome = messages_to(services, "ana@example.org")
    assert welcome["Subject"] == "Welcome aboard"

    text = text_of(welcome)
    assert "Hi Ana," in text and "Thanks for **joining** us." in text
    html = welcome.get_body(preferencelist=("html",))
    assert html is not None and "<strong>joining</strong>" in html.get_content()
    # The reader's own unsubscribe link (and the RFC 8058 headers), and their preferences page.
    unsubscribe = re.search(r"http://newsletter\.test/unsubscribe/(\S+)", text)
    assert unsubscribe, text
    assert services.tokens.read_unsubscribe(unsubscribe.group(1)) == subscriber_id
    assert f"<http://newsletter.test/unsubscribe/{unsubscribe.group(1)}>" in str(welcome["List-Unsubscribe"])
    assert welcome["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert services.links.preferences(subscriber_id) in text


def test_not_sent_to_a_reader_added_by_the_editor(services: Services) -> None:
    save_profile(services.sessions, services.settings, welcome_enabled=True)
    services.subscriptions.add("ana@example.org")  # active at once: no confirmation, no welcome
    assert messages_to(services, "ana@example.org") == []


def test_a_failed_welcome_never_fails_the_confirmation(
    services: Services, caplog: pytest.LogCaptureFixture
) -> None:
    save_profile(services.sessions, services.settings, welcome_enabled=True)
    result = services.subscriptions.subscribe("ana@example.org")
    memory(services).fail_with = ConnectionRefusedError("connection refused")
    with caplog.at_level(logging.WARNING, logger="newsletter.readers.welcome"):
        subscriber = services.subscriptions.confirm(result.subscriber_id, "ana@example.org")
    assert subscriber.status is SubscriberStatus.ACTIVE
    assert "welcome email for subscriber" in caplog.text and "connection refused" in caplog.text


def test_confirm_page_sends_the_welcome(client: TestClient, services: Services) -> None:
    save_profile(services.sessions, services.settings, welcome_enabled=True, welcome_subject="Hello there")
    client.post("/subscribe", data={"email": "ana@example.org", "name": "Ana"})
    [confirmation] = messages_to(services, "ana@example.org")
    match = re.search(r"http://newsletter\.test(/confirm/\S+)", text_of(confirmation))
    assert match
    page = client.get(match.group(1))
    assert page.status_code == 200 and "You're subscribed" in page.text
    assert [m["Subject"] for m in messages_to(services, "ana@example.org")][1:] == ["Hello there"]
