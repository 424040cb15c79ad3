"""The public forms through the real app tell no one who reads the list: /subscribe and the change of
address answer the same page for every address, and mail only after the answer has gone."""

from __future__ import annotations

import asyncio
import email
import email.policy
import re
import threading
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlencode, urlsplit

from fastapi.testclient import TestClient

from newsletter.config import Settings
from newsletter.mail.backends import OutgoingMessage, SendResult
from newsletter.mail.backends.memory import MemoryBackend
from newsletter.readers.models import Subscriber, SubscriberStatus
from newsletter.services import Services
from newsletter.web import create_app

SAFETY_SECONDS = 30  # only so a regression fails instead of hanging; nothing is timed


def memory(services: Services) -> MemoryBackend:
    assert isinstance(services.backend, MemoryBackend)
    return services.backend


def plain_text(message: OutgoingMessage) -> str:
    parsed = email.message_from_bytes(message.data, policy=email.policy.default)
    part = parsed.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())


def test_subscribe_answers_the_same_for_new_and_known_addresses(client: TestClient, services: Services) -> None:
    services.subscriptions.add("active@example.org")
    services.subscriptions.subscribe("pending@example.org")
    left, _ = services.subscriptions.add("left@example.org")
    services.subscriptions.unsubscribe(left.id)
    with services.sessions.begin() as session:
        services.suppression.add(session, ["bounced@example.org"], "bounced")
    memory(services).clear()

    answers = {
        address: client.post("/subscribe", data={"email": address, "name": "Ana"})
        for address in ("new@example.org", "active@example.org", "pending@example.org", "left@example.org",
                        "bounced@example.org")
    }

    assert {(r.status_code, r.text) for r in answers.values()} == {(200, answers["new@example.org"].text)}
    assert "Check your inbox" in answers["new@example.org"].text
    # The emails differ, and only the address's owner sees them: none to a reader or a suppressed address.
    assert sorted(m.recipient for m in memory(services).sent) == [
        "left@example.org", "new@example.org", "pending@example.org"]


class GatedBackend(MemoryBackend):
    """Holds every send until the test releases it."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self.entered = threading.Event()
        self.release = threading.Event()

    def send(self, messages: Sequence[OutgoingMessage]) -> list[SendResult]:
        self.entered.set()
        assert self.release.wait(SAFETY_SECONDS), "never released"
        return super().send(messages)


async def post_form(app: Any, path: str, form: dict[str, str], answered: asyncio.Event,
                    sent: list[dict[str, Any]]) -> None:
    """One request straight through ASGI; ``answered`` is set once the whole response went out."""
    body = urlencode(form).encode()
    delivered = False

    async def receive() -> dict[str, Any]:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.Event().wait()  # the client stays connected
        raise AssertionError("unreachable")

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)
        if message["type"] == "http.response.body" and not message.get("more_body", False):
            answered.set()

    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
        "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
        "headers": [(b"host", b"newsletter.test"), (b"content-type", b"application/x-www-form-urlencoded"),
                    (b"content-length", str(len(body)).encode())],
        "client": ("192.0.2.7", 40000), "server": ("newsletter.test", 80),
    }
    await app(scope, receive, send)


def test_the_confirmation_is_sent_after_the_response(settings: Settings) -> None:
    backend = GatedBackend(settings)
    services = Services.build(settings, backend=backend)
    app = create_app(services)

    async def scenario() -> list[dict[str, Any]]:
        answered, sent = asyncio.Event(), []
        request = asyncio.create_task(post_form(app, "/subscribe", {"email": "new@example.org"}, answered, sent))
        # The page arrives while the mail server is still holding the confirmation.
        await asyncio.wait_for(answered.wait(), SAFETY_SECONDS)
        assert backend.sent == []
        loop = asyncio.get_running_loop()
        assert await loop.run_in_executor(None, backend.entered.wait, SAFETY_SECONDS), "no confirmation was started"
        backend.release.set()
        await asyncio.wait_for(request, SAFETY_SECONDS)
        return sent

    try:
        sent = asyncio.run(scenario())
    finally:
        services.close()
    assert sent[0]["status"] == 200
    assert b"Check your inbox" in b"".join(m.get("body", b"") for m in sent)
    assert [m.recipient for m in backend.sent] == ["new@example.org"]
    with services.sessions() as session:
        [reader] = session.query(Subscriber).all()
    assert reader.status is SubscriberStatus.PENDING


def preferences_path(services: Services, address: str) -> str:
    subscriber, _ = services.subscriptions.add(address)
    return urlsplit(services.links.preferences(subscriber.id)).path


def test_the_change_of_address_page_is_the_same_for_a_free_and_a_taken_address(
    client: TestClient, services: Services
) -> None:
    path = preferences_path(services, "ana@example.org")
    services.subscriptions.add("taken@example.org")
    with services.sessions.begin() as session:
        services.suppression.add(session, ["bounced@example.org"], "bounced")

    pages = {}
    for new in ("free@example.org", "taken@example.org", "bounced@example.org"):
        answer = client.post(f"{path}/email", data={"email": new}, follow_redirects=False)
        page = client.get(answer.headers["location"])
        pages[new] = (answer.status_code, answer.headers["location"], page.status_code, page.text.replace(new, "NEW"))
        client.post(f"{path}/email/cancel")

    assert pages["free@example.org"] == pages["taken@example.org"] == pages["bounced@example.org"]
    assert "If the new address can receive the newsletter" in pages["free@example.org"][3]
    assert "already on our list" not in pages["taken@example.org"][3]
    # The decision went by email: a link to the free address, a word to the reader about the others.
    assert sorted(m.recipient for m in memory(services).sent) == [
        "ana@example.org", "ana@example.org", "free@example.org"]


def test_a_completed_move_can_be_undone_from_the_old_address(client: TestClient, services: Services) -> None:
    path = preferences_path(services, "ana@example.org")
    client.post(f"{path}/email", data={"email": "mallory@example.net"})
    [confirmation] = memory(services).sent
    confirm = re.search(r"http://newsletter\.test(/preferences/confirm/\S+)", plain_text(confirmation))
    assert confirm
    assert client.get(confirm.group(1)).status_code == 200
    assert "mallory@example.net" in client.get(path).text

    [notice] = [m for m in memory(services).sent if m.recipient == "ana@example.org"]
    undo = re.search(r"http://newsletter\.test(/preferences/undo/\S+)", plain_text(notice))
    assert undo
    asked = client.get(undo.group(1))  # a mail scanner following the link moves nothing
    assert asked.status_code == 200 and "Move it back to ana@example.org</button>" in asked.text
    assert "mallory@example.net" in client.get(path).text

    done = client.post(undo.group(1))
    assert done.status_code == 200 and "Your subscription is back" in done.text
    assert "goes to <strong>ana@example.org</strong>" in client.get(path).text
    assert client.post(undo.group(1)[:-3] + "xyz").status_code == 400
