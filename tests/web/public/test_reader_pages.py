"""The reader's pages through the real app: rate limits, preferences, messages beside fields, escaping."""

from __future__ import annotations

import email
import email.policy
import re
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient

from newsletter.mail.backends.memory import MemoryBackend
from newsletter.services import Services
from newsletter.web.public.pages import FORM_LIMIT

SCRIPT = "<script>alert(1)</script>"


def memory(services: Services) -> MemoryBackend:
    assert isinstance(services.backend, MemoryBackend)
    return services.backend


def reader(services: Services, address: str = "ana@example.org") -> tuple[int, str]:
    """An active reader and the path of their preferences page."""
    subscriber, _ = services.subscriptions.add(address)
    return subscriber.id, urlsplit(services.links.preferences(subscriber.id)).path


def field_error(html: str, field: str) -> str:
    """The message shown beside a field (and tied to it with aria-describedby)."""
    assert f'aria-describedby="{field}-error"' in html, f"no error tied to {field}"
    match = re.search(rf'<p class="field-error" id="{field}-error">([^<]*)</p>', html)
    assert match, f"no error beside {field}"
    return match.group(1)


def test_subscribe_form_is_rate_limited_per_client(client: TestClient, services: Services) -> None:
    for n in range(3):  # typos are answered beside the field and not counted
        assert client.post("/subscribe", data={"email": f"typo{n}"}).status_code == 400
    for n in range(FORM_LIMIT):
        assert client.post("/subscribe", data={"email": f"reader{n}@example.org"}).status_code == 200
    refused = client.post("/subscribe", data={"email": "one-more@example.org"})
    assert refused.status_code == 429
    assert "Too many tries" in refused.text and "try again in about 10 minutes" in refused.text
    assert int(refused.headers["retry-after"]) > 500
    assert [m.recipient for m in memory(services).sent] == [f"reader{n}@example.org" for n in range(FORM_LIMIT)]


def test_change_of_address_shares_the_limit(client: TestClient, services: Services) -> None:
    for n in range(FORM_LIMIT):
        client.post("/subscribe", data={"email": f"reader{n}@example.org"})
    _, path = reader(services)
    refused = client.post(f"{path}/email", data={"email": "victim@example.org"})
    assert refused.status_code == 429
    assert all(m.recipient != "victim@example.org" for m in memory(services).sent)


def test_preferences_page_has_labelled_fields_and_is_private(client: TestClient, services: Services) -> None:
    _, path = reader(services)
    page = client.get(path)
    assert page.status_code == 200
    for label in ('<label for="weeks">Pause for</label>', '<label for="email">New email address</label>',
                  '<label for="time_zone">Time zone</label>'):
        assert label in page.text
    assert ">Pause</button>" in page.text and ">Unsubscribe</button>" in page.text
    assert "<option>Europe/Paris</option>" in page.text
    assert "ana@example.org" in page.text
    assert page.headers["cache-control"] == "no-store"


def test_unsubscribe_page_and_email_footer_lead_to_preferences(client: TestClient, services: Services) -> None:
    subscriber_id, path = reader(services)
    unsubscribe = urlsplit(services.links.unsubscribe(subscriber_id)).path
    assert f'href="{path}"' in client.get(unsubscribe).text
    footer_link = client.get(f"{unsubscribe}?page=preferences", follow_redirects=False)
    assert footer_link.status_code == 303 and footer_link.headers["location"] == path
    # On the public web version the same link has no token: the help page explains.
    assert "Preferences" in client.get("/unsubscribe?page=preferences").text


def test_pause_and_resume(client: TestClient, services: Services) -> None:
    _, path = reader(services)
    response = client.post(f"{path}/pause", data={"weeks": "2"}, follow_redirects=False)
    assert response.status_code == 303
    page = client.get(response.headers["location"]).text
    assert "Paused until" in page and ">Resume now</button>" in page
    page = client.post(f"{path}/resume").text
    assert "Welcome back" in page and "Paused until" not in page


@pytest.mark.parametrize("weeks", ["13", "0", "abc", SCRIPT])
def test_bad_pause_is_answered_beside_the_field(client: TestClient, services: Services, weeks: str) -> None:
    _, path = reader(services)
    response = client.post(f"{path}/pause", data={"weeks": weeks})
    assert response.status_code == 400
    assert field_error(response.text, "weeks") == "Choose between 1 and 12 weeks."
    assert "<script>alert" not in response.text


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("", "Please enter your new email address."),
        ("not-an-address", "Please check the address"),
        (SCRIPT, "Please check the address"),
        ("ana@example.org", "That is already the address you receive the newsletter at"),
    ],
)
def test_bad_new_address_is_answered_beside_the_field(
    client: TestClient, services: Services, typed: str, message: str
) -> None:
    reader(services, "taken@example.org")
    _, path = reader(services)
    response = client.post(f"{path}/email", data={"email": typed})
    assert response.status_code == 400
    assert field_error(response.text, "email").startswith(message)
    assert "<script>alert" not in response.text
    if typed == SCRIPT:
        assert 'value="&lt;script&gt;alert(1)&lt;/script&gt;"' in response.text
    assert memory(services).sent == []


def test_change_of_address_through_the_pages(client: TestClient, services: Services) -> None:
    _, path = reader(services)
    page = client.post(f"{path}/email", data={"email": "ana.new@example.org"}).text
    assert "If the new address can receive the newsletter, we&#39;re sending a link to it" in page
    assert "Until you follow it, the newsletter keeps going to ana@example.org" in page
    [message] = memory(services).sent
    assert message.recipient == "ana.new@example.org"
    parsed = email.message_from_bytes(message.data, policy=email.policy.default)
    body = parsed.get_body(preferencelist=("plain",))
    assert body is not None
    link = re.search(r"http://newsletter\.test(/preferences/confirm/\S+)", body.get_content())
    assert link
    confirmed = client.get(link.group(1))
    assert confirmed.status_code == 200 and "Your address is changed" in confirmed.text
    assert "ana.new@example.org" in client.get(path).text
    assert client.get(link.group(1)[:-4] + "abcd").status_code == 400  # a damaged link


def test_time_zone(client: TestClient, services: Services) -> None:
    _, path = reader(services)
    page = client.post(f"{path}/time-zone", data={"time_zone": "Asia/Tokyo"}).text
    assert "Your time zone is saved." in page and "<option selected>Asia/Tokyo</option>" in page
    bad = client.post(f"{path}/time-zone", data={"time_zone": SCRIPT})
    assert bad.status_code == 400
    assert field_error(bad.text, "time_zone") == "Choose a time zone from the list."
    assert "<script>alert" not in bad.text


@pytest.mark.parametrize("token", ["forged", "eyJhbGciOi.forged.x", "1", "%3Cscript%3E"])
def test_forged_preferences_token_gets_a_clear_page(client: TestClient, token: str) -> None:
    for response in (client.get(f"/preferences/{token}"),
                     client.post(f"/preferences/{token}/pause", data={"weeks": "2"}),
                     client.post(f"/preferences/{token}/email", data={"email": "x@example.org"}),
                     client.post(f"/preferences/{token}/time-zone", data={"time_zone": "Asia/Tokyo"}),
                     client.get(f"/preferences/confirm/{token}")):
        assert response.status_code == 400
        assert "link didn&#39;t work" in response.text  # "This ... link didn't work", escaped
        assert "<script>" not in response.text


def test_erased_reader_gets_a_clear_page(client: TestClient, services: Services) -> None:
    _, path = reader(services)
    services.subscriptions.erase("ana@example.org")
    response = client.get(path)
    assert response.status_code == 404 and "There is no subscription for this link" in response.text


def test_reader_who_left_sees_why_nothing_can_change(client: TestClient, services: Services) -> None:
    subscriber_id, path = reader(services)
    assert client.post(urlsplit(services.links.unsubscribe(subscriber_id)).path).status_code == 200
    page = client.get(path).text
    assert "You're not subscribed" in page and ">Pause</button>" not in page
    refused = client.post(f"{path}/pause", data={"weeks": "2"})
    assert refused.status_code == 409 and "You are not subscribed" in refused.text


def test_script_in_every_subscribe_field_is_escaped(client: TestClient, services: Services) -> None:
    response = client.post("/subscribe", data={"email": SCRIPT, "name": SCRIPT})
    assert response.status_code == 400
    assert "<script>alert" not in response.text
    assert response.text.count("&lt;script&gt;alert(1)&lt;/script&gt;") == 2
    # A name with markup is kept as text and never becomes markup on the reader's pages or mail.
    assert client.post("/subscribe", data={"email": "ana@example.org", "name": SCRIPT}).status_code == 200
    [confirmation] = memory(services).sent
    parsed = email.message_from_bytes(confirmation.data, policy=email.policy.default)
    html = parsed.get_body(preferencelist=("html",))
    assert html is not None
    # The typed name is not the reader's until they confirm: the confirmation greets no one by it.
    assert "Hello," in html.get_content() and "alert(1)" not in html.get_content()
    assert "<script>" not in html.get_content()


def test_every_issue_email_links_the_readers_own_preferences_page(client: TestClient, services: Services) -> None:
    from tests.factories import mail_an_issue

    sent = mail_an_issue(services, "ana@example.net")["ana@example.net"]
    message = email.message_from_bytes(sent.data, policy=email.policy.default)
    text = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    assert text is not None and html is not None
    [link] = re.findall(r"\S+\?page=preferences", text.get_content())
    assert f'href="{link}"' in html.get_content()
    path = urlsplit(link)
    response = client.get(f"{path.path}?{path.query}", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"].startswith("/preferences/")
    page = client.get(response.headers["location"])
    assert page.status_code == 200 and "ana@example.net" in page.text
