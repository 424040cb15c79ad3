"""The reader's pages through the real app: subscribe, confirm, unsubscribe, archive."""

from __future__ import annotations

import email
import email.policy
import re
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from newsletter.mail.backends.memory import MemoryBackend
from newsletter.config import Settings
from newsletter.issues.models import Issue, IssueStatus
from newsletter.readers.models import Subscriber, SubscriberStatus
from newsletter.services import Services
from newsletter.web import create_app


def memory(services: Services) -> MemoryBackend:
    assert isinstance(services.backend, MemoryBackend)
    return services.backend


def subscribers(services: Services) -> list[Subscriber]:
    with services.sessions() as session:
        return list(session.scalars(select(Subscriber)))


def confirm_path(services: Services, to: str) -> str:
    """The confirm link from the text part of the last confirmation email sent to ``to``."""
    [message] = [m for m in memory(services).sent if m.recipient == to][-1:]
    parsed = email.message_from_bytes(message.data, policy=email.policy.default)
    text_part = parsed.get_body(preferencelist=("plain",))
    assert text_part is not None
    match = re.search(r"http://newsletter\.test(/confirm/\S+)", text_part.get_content())
    assert match, "the confirmation email's text part has no confirm link"
    return match.group(1)


def test_home_redirects_to_the_subscribe_form(client: TestClient) -> None:
    response = client.get("/", follow_redirects=False)
    assert response.status_code in (303, 307)
    assert response.headers["location"] == "/subscribe"


def test_subscribe_form_has_labelled_fields_and_security_headers(client: TestClient) -> None:
    response = client.get("/subscribe")
    assert response.status_code == 200
    html = response.text
    assert '<label for="email">Email</label>' in html
    assert 'name="email"' in html and 'id="email"' in html
    assert '<label for="name">Name' in html
    assert ">Subscribe</button>" in html
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "same-origin"
    csp = response.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'self'" in csp


def test_subscribe_confirm_and_subscribe_again(client: TestClient, services: Services) -> None:
    response = client.post("/subscribe", data={"email": "Reader@Example.org", "name": "Ana"})
    assert response.status_code == 200
    assert "Check your inbox" in response.text
    [subscriber] = subscribers(services)
    assert subscriber.email == "reader@example.org"
    assert subscriber.status is SubscriberStatus.PENDING

    path = confirm_path(services, "reader@example.org")
    response = client.get(path)
    assert response.status_code == 200
    assert "You're subscribed" in response.text
    [subscriber] = subscribers(services)
    assert subscriber.status is SubscriberStatus.ACTIVE

    # Subscribing again shows the same page (no leak) and makes no second subscriber.
    again = client.post("/subscribe", data={"email": "reader@example.org"})
    assert again.status_code == 200
    assert "Check your inbox" in again.text
    assert len(subscribers(services)) == 1


def test_pending_reader_subscribing_twice_stays_one_subscriber(client: TestClient, services: Services) -> None:
    for _ in range(2):
        assert client.post("/subscribe", data={"email": "twice@example.org"}).status_code == 200
    assert len(subscribers(services)) == 1


@pytest.mark.parametrize("bad", ["not-an-email", "a@b", "x\r\nBcc: y@z.org", ""])
def test_bad_address_shows_the_form_again(client: TestClient, services: Services, bad: str) -> None:
    response = client.post("/subscribe", data={"email": bad, "name": "Kept"})
    assert response.status_code == 400
    assert "Please check the address" in response.text
    assert '<label for="email">Email</label>' in response.text
    assert 'value="Kept"' in response.text
    assert subscribers(services) == []
    assert memory(services).sent == []


def test_bad_address_keeps_what_was_typed(client: TestClient) -> None:
    response = client.post("/subscribe", data={"email": "not-an-email"})
    assert 'value="not-an-email"' in response.text


def test_absurdly_long_address_is_refused(client: TestClient, services: Services) -> None:
    response = client.post("/subscribe", data={"email": "a@example.org" + " " * 2000 + "x"})
    assert response.status_code == 400
    assert "far too long" in response.text
    assert subscribers(services) == []


def test_typed_value_is_escaped(client: TestClient) -> None:
    response = client.post("/subscribe", data={"email": '"><script>alert(1)</script>'})
    assert response.status_code == 400
    assert "<script>alert(1)" not in response.text


def test_mail_server_down_gives_the_same_page_and_a_later_try_sends(settings: Settings) -> None:
    # The email goes after the answer, so the page can't tell; the reader waits pending and asks again.
    backend = MemoryBackend(settings, fail_with=ConnectionRefusedError("connection refused"))
    services = Services.build(settings, backend=backend)
    try:
        with TestClient(create_app(services)) as client:
            response = client.post("/subscribe", data={"email": "reader@example.org"})
            assert response.status_code == 200 and "Check your inbox" in response.text
            assert [s.status for s in subscribers(services)] == [SubscriberStatus.PENDING]
            backend.fail_with = None
            assert client.post("/subscribe", data={"email": "reader@example.org"}).status_code == 200
        assert [m.recipient for m in backend.sent] == ["reader@example.org"]
    finally:
        services.close()


def test_bad_or_damaged_confirm_token(client: TestClient, services: Services) -> None:
    response = client.get("/confirm/not-a-token")
    assert response.status_code == 400
    assert "This confirmation link is not valid." in response.text

    client.post("/subscribe", data={"email": "reader@example.org"})
    path = confirm_path(services, "reader@example.org")
    assert client.get(path[:-3] + "xyz").status_code == 400
    assert subscribers(services)[0].status is SubscriberStatus.PENDING


def test_unsubscribe_asks_first_then_one_click_post_works(client: TestClient, services: Services) -> None:
    subscriber, _ = services.subscriptions.add("leaver@example.org")
    path = urlsplit(services.links.unsubscribe(subscriber.id)).path

    page = client.get(path)
    assert page.status_code == 200
    assert f'<form method="post" action="{path}">' in page.text
    assert ">Unsubscribe</button>" in page.text
    assert subscribers(services)[0].status is SubscriberStatus.ACTIVE  # GET alone changes nothing

    # RFC 8058: the mail provider POSTs this body, with no cookies and no CSRF token.
    with TestClient(create_app(services)) as gmail:
        response = gmail.post(
            path,
            content=b"List-Unsubscribe=One-Click",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
    assert response.status_code == 200
    assert "You're unsubscribed" in response.text
    assert subscribers(services)[0].status is SubscriberStatus.UNSUBSCRIBED

    # Clicking the button again (or a second one-click POST) is harmless.
    assert client.post(path).status_code == 200
    assert subscribers(services)[0].status is SubscriberStatus.UNSUBSCRIBED


def test_bad_unsubscribe_token(client: TestClient) -> None:
    for response in (client.get("/unsubscribe/forged.token"), client.post("/unsubscribe/forged.token")):
        assert response.status_code == 400
        assert "This unsubscribe link is not valid." in response.text


def test_unsubscribe_without_token_explains(client: TestClient) -> None:
    response = client.get("/unsubscribe")
    assert response.status_code == 200
    assert "unsubscribe link at the bottom of any email" in response.text


def test_archive_lists_sent_issues_newest_first(client: TestClient, services: Services) -> None:
    with services.sessions.begin() as session:
        for number, status in ((1, IssueStatus.SENT), (2, IssueStatus.SENT), (3, IssueStatus.DRAFT)):
            session.add(
                Issue(
                    number=number,
                    subject=f"Issue number {number}",
                    status=status,
                    html=f"<html><body><p>Body of {number}</p><a href=\"@@NL-SLOT-UNSUBSCRIBE-URL-5c1e@@\">x</a></body></html>",
                    text=f"Body of {number}",
                )
            )
    listing = client.get("/archive")
    assert listing.status_code == 200
    assert listing.text.index("Issue number 2") < listing.text.index("Issue number 1")
    assert "Issue number 3" not in listing.text

    issue = client.get("/archive/2")
    assert issue.status_code == 200
    assert "Body of 2" in issue.text
    assert "@@NL-SLOT" not in issue.text
    assert 'href="http://newsletter.test/unsubscribe"' in issue.text

    assert client.get("/archive/3").status_code == 404  # drafts are not public
    assert client.get("/archive/99").status_code == 404
    assert client.get("/archive/nope").status_code == 404


def test_an_old_confirm_link_does_not_resubscribe_someone_who_left(client: TestClient, services: Services) -> None:
    client.post("/subscribe", data={"email": "leaver@example.org"})
    path = confirm_path(services, "leaver@example.org")
    assert client.get(path).status_code == 200
    [subscriber] = subscribers(services)
    client.post(urlsplit(services.links.unsubscribe(subscriber.id)).path)

    response = client.get(path)

    assert response.status_code == 400
    assert "no longer valid" in response.text
    assert subscribers(services)[0].status is SubscriberStatus.UNSUBSCRIBED
