"""The editor's pages through the real app: login, issues, preview, test send, send and its controls."""

from __future__ import annotations

import email
import email.policy
import re
import shutil
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from newsletter.mail.backends import SendResult, SendStatus
from newsletter.mail.backends.memory import MemoryBackend
from newsletter.issues.compose import compose
from newsletter.config import Settings
from newsletter.delivery.dispatch import Worker
from newsletter.content.models import Article
from tests.clock import mid_week
from newsletter.delivery.models import Delivery
from newsletter.issues.models import Issue, IssueStatus
from newsletter.readers.models import Subscriber, SubscriberStatus
from newsletter.services import Services
from newsletter.web import create_app
from tests.factories import subscribed, add_subscribers

PASSWORD = "test-admin-password"  # the settings fixture's admin_password
NOW = mid_week()  # Wednesday noon: minutes or days either side stay in its week, whatever the day


def add_articles(services: Services, count: int = 2) -> None:
    with services.sessions.begin() as session:
        for n in range(count):
            session.add(
                Article(
                    uid=f"article-{n}",
                    title=f"Headline number {n}",
                    author="A. Writer",
                    published_at=NOW - timedelta(minutes=n),
                    standfirst=f"Standfirst {n}.",
                    paragraphs=[f"First paragraph of article {n}.", "Second paragraph."],
                    pull_quotes=[],
                    url=f"https://example.org/articles/{n}",
                    content_hash=f"hash-{n}",
                )
            )


@pytest.fixture
def issue_id(services: Services) -> int:
    add_articles(services)
    return compose(services.sessions, services.settings, now=NOW).issue_id


def log_in(client: TestClient, next_path: str = "/admin/issues") -> None:
    response = client.post("/admin/login", data={"password": PASSWORD, "next": next_path}, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == next_path


def csrf(client: TestClient, page: str = "/admin/issues") -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', client.get(page).text)
    assert match, "no CSRF token on the page"
    return match.group(1)


def add_readers(services: Services, active: int, other: int = 1) -> None:
    with services.sessions.begin() as session:
        for n in range(active):
            reader = Subscriber(email=f"active{n}@example.org", status=SubscriberStatus.ACTIVE)
            session.add(reader)
            subscribed(session, reader)
        for n in range(other):
            session.add(Subscriber(email=f"gone{n}@example.org", status=SubscriberStatus.UNSUBSCRIBED))


def deliveries(services: Services, issue_id: int) -> int:
    with services.sessions() as session:
        return len(list(session.scalars(select(Delivery).where(Delivery.issue_id == issue_id))))


@pytest.mark.parametrize("path", ["/admin", "/admin/issues", "/admin/issues/1", "/admin/issues/1/preview"])
def test_pages_redirect_to_login_when_logged_out(client: TestClient, path: str) -> None:
    response = client.get(path, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/admin/login")
    if path != "/admin":  # /admin is only a redirect to /admin/issues
        assert response.headers["location"] == "/admin/login?next=" + path.replace("/", "%2F")


def test_logged_out_posts_are_refused(client: TestClient, services: Services, issue_id: int) -> None:
    add_readers(services, 2)
    response = client.post(f"/admin/issues/{issue_id}/send", data={"csrf_token": "x"}, follow_redirects=False)
    assert response.status_code in (401, 403)
    assert deliveries(services, issue_id) == 0


def test_login_form_and_wrong_password(client: TestClient) -> None:
    form = client.get("/admin/login")
    assert '<label for="password">Password</label>' in form.text
    response = client.post("/admin/login", data={"password": "guess"})
    assert response.status_code == 401
    assert "That password is not right." in response.text
    assert 'name="password"' in response.text
    assert client.get("/admin/issues", follow_redirects=False).status_code == 303


def test_login_sets_a_safe_cookie_and_returns_to_the_page(client: TestClient) -> None:
    response = client.post(
        "/admin/login", data={"password": PASSWORD, "next": "/admin/issues/7"}, follow_redirects=False
    )
    assert response.headers["location"] == "/admin/issues/7"
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie and "path=/admin" in cookie


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/admin", "/elsewhere"])
def test_login_never_redirects_off_the_admin(client: TestClient, target: str) -> None:
    response = client.post("/admin/login", data={"password": PASSWORD, "next": target}, follow_redirects=False)
    assert response.headers["location"] == "/admin/issues"


def test_issue_list_and_issue_page(client: TestClient, services: Services, issue_id: int) -> None:
    add_readers(services, 3)
    log_in(client)
    listing = client.get("/admin/issues")
    assert listing.status_code == 200
    assert "Compose this week" in listing.text
    assert f'href="/admin/issues/{issue_id}"' in listing.text
    assert "Headline number 0" in listing.text  # the subject names the lead article

    page = client.get(f"/admin/issues/{issue_id}")
    assert page.status_code == 200
    for seen in ("Headline number 0", "Headline number 1", "Standfirst 0.", "draft"):
        assert seen in page.text
    assert '<label for="test_address">Test address</label>' in page.text
    assert "Send to 3 readers…" in page.text  # leads to the confirmation (test_send_confirmation.py)
    assert f'href="/admin/issues/{issue_id}/preview"' in page.text
    assert client.get("/admin/issues/999").status_code == 404


def test_preview_shows_both_widths_and_the_text_part(client: TestClient, issue_id: int) -> None:
    log_in(client)
    page = client.get(f"/admin/issues/{issue_id}/preview")
    assert page.status_code == 200
    frames = re.findall(r'<iframe src="([^"]+)" width="(\d+)"', page.text)
    assert frames == [(f"/admin/issues/{issue_id}/preview.html", "600"), (f"/admin/issues/{issue_id}/preview.html", "375")]
    pre = re.search(r"<pre>(.*?)</pre>", page.text, re.S)
    assert pre and "Headline number 0" in pre.group(1)

    html = client.get(frames[0][0])
    assert html.status_code == 200
    assert html.headers["content-type"].startswith("text/html")
    assert "Headline number 1" in html.text
    assert "frame-ancestors 'self'" in html.headers["content-security-policy"]
    assert html.headers["cache-control"] == "no-store"

    text = client.get(f"/admin/issues/{issue_id}/preview.txt")
    assert text.headers["content-type"].startswith("text/plain")
    assert "Headline number 1" in text.text
    assert "@@NL-SLOT" not in text.text + html.text


def test_broken_template_shows_the_error(settings: Settings, tmp_path: Path) -> None:
    templates = tmp_path / "templates"
    shutil.copytree(settings.templates_dir, templates)
    broken = templates / "email" / "issue.txt.j2"
    broken.write_text(broken.read_text() + "\n{% if %}\n")
    services = Services.build(settings.model_copy(update={"templates_dir": templates}))
    try:
        add_articles(services)
        issue_id = compose(services.sessions, services.settings, now=NOW).issue_id
        with TestClient(create_app(services)) as client:
            log_in(client)
            response = client.get(f"/admin/issues/{issue_id}/preview")
        assert response.status_code == 500
        assert "The email template is broken" in response.text
        assert "issue.txt.j2" in response.text
    finally:
        services.close()


def test_test_send_puts_one_message_in_the_backend(client: TestClient, services: Services, issue_id: int) -> None:
    log_in(client)
    token = csrf(client, f"/admin/issues/{issue_id}")
    response = client.post(
        f"/admin/issues/{issue_id}/test", data={"csrf_token": token, "test_address": "editor@example.org"}
    )
    assert response.status_code == 200
    assert "Test sent to editor@example.org." in response.text
    backend = services.backend
    assert isinstance(backend, MemoryBackend)
    [message] = backend.sent
    assert message.recipient == "editor@example.org"
    parsed = email.message_from_bytes(message.data, policy=email.policy.default)
    assert str(parsed["Subject"]).startswith("[Test] ")
    assert deliveries(services, issue_id) == 0  # outside the queue

    # The flash message is shown once.
    assert "Test sent to" not in client.get(f"/admin/issues/{issue_id}").text


def test_test_send_to_a_bad_address_says_why(client: TestClient, services: Services, issue_id: int) -> None:
    log_in(client)
    token = csrf(client, f"/admin/issues/{issue_id}")
    response = client.post(f"/admin/issues/{issue_id}/test", data={"csrf_token": token, "test_address": "a@b"})
    assert "Test not sent:" in response.text
    assert isinstance(services.backend, MemoryBackend) and services.backend.sent == []


def test_send_queues_each_active_reader_once(client: TestClient, services: Services, issue_id: int) -> None:
    add_readers(services, active=3, other=2)
    log_in(client)
    token = csrf(client, f"/admin/issues/{issue_id}")
    first = client.post(f"/admin/issues/{issue_id}/send", data={"csrf_token": token})
    assert first.status_code == 200
    assert "Queued 3 deliveries" in first.text
    assert services.store.counts(issue_id)["queued"] == 3
    assert 'id="count-queued">3<' in first.text  # the issue page shows the delivery counts

    second = client.post(f"/admin/issues/{issue_id}/send", data={"csrf_token": token})
    assert f"Not sent: cannot send issue {issue_id}: it is sending" in second.text
    assert deliveries(services, issue_id) == 3


def test_posts_without_csrf_are_rejected(client: TestClient, services: Services, issue_id: int) -> None:
    add_readers(services, 2)
    log_in(client)
    for data in ({}, {"csrf_token": "forged"}):
        assert client.post(f"/admin/issues/{issue_id}/send", data=data).status_code == 403
        test = client.post(f"/admin/issues/{issue_id}/test", data={**data, "test_address": "e@example.org"})
        assert test.status_code == 403
        assert client.post("/admin/issues/compose", data=data).status_code == 403
        assert client.post("/admin/logout", data=data).status_code == 403
    assert deliveries(services, issue_id) == 0
    assert isinstance(services.backend, MemoryBackend) and services.backend.sent == []


def test_compose_button(client: TestClient, services: Services, mid_week_now: datetime) -> None:
    log_in(client)
    token = csrf(client)
    empty = client.post("/admin/issues/compose", data={"csrf_token": token})
    assert empty.status_code == 200
    assert "no articles were published" in empty.text

    add_articles(services)
    with services.sessions.begin() as session:  # published now, so they fall in this week
        for article in session.scalars(select(Article)):
            article.published_at = mid_week_now
    made = client.post("/admin/issues/compose", data={"csrf_token": token}, follow_redirects=False)
    assert made.status_code == 303
    assert re.fullmatch(r"/admin/issues/\d+", made.headers["location"])
    page = client.get(made.headers["location"])
    assert "Composed issue #1" in page.text and "with 2 articles" in page.text


def test_logout(client: TestClient) -> None:
    log_in(client)
    token = csrf(client)
    response = client.post("/admin/logout", data={"csrf_token": token}, follow_redirects=False)
    assert response.status_code == 303
    assert client.get("/admin/issues", follow_redirects=False).status_code == 303


# The send's progress and its controls.

REFRESH = '<meta http-equiv="refresh" content="5">'


@pytest.fixture
def sending_id(services: Services, issue_id: int) -> int:
    """The issue with four deliveries queued: the issue is sending, no worker has run."""
    add_subscribers(services.sessions, 4)
    services.publisher.queue(issue_id)
    return issue_id


def issue_status(services: Services, issue_id: int) -> IssueStatus | None:
    with services.sessions() as session:
        return session.scalar(select(Issue.status).where(Issue.id == issue_id))


def list_row(client: TestClient, issue_id: int) -> str:
    row = re.search(rf'<a href="/admin/issues/{issue_id}">.*?</tr>', client.get("/admin/issues").text, re.S)
    assert row, "the issue is not in the list"
    return row.group(0)


def control(client: TestClient, issue_id: int, action: str) -> str:
    """POST a control button's form the way the page does; the text of the page it leads to."""
    token = csrf(client, f"/admin/issues/{issue_id}")
    response = client.post(f"/admin/issues/{issue_id}/{action}", data={"csrf_token": token}, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == f"/admin/issues/{issue_id}"
    return client.get(response.headers["location"]).text


def buttons(page: str) -> list[str]:
    return re.findall(r'<button[^>]*type="submit">([^<]+)</button>', page)


def test_issue_page_while_sending(client: TestClient, sending_id: int) -> None:
    log_in(client)
    page = client.get(f"/admin/issues/{sending_id}").text
    assert REFRESH in page
    assert '<progress id="send-progress" value="0" max="4"' in page
    assert 'id="count-queued">4<' in page and 'id="count-sent">0<' in page and 'id="count-skipped">0<' in page
    assert "msg/s" in page and 'id="send-eta"' in page
    assert 'id="issue-status">sending<' in page
    assert {"Pause", "Cancel send"} <= set(buttons(page)) and "Resume" not in buttons(page)
    assert f'action="/admin/issues/{sending_id}/pause"' in page and f'action="/admin/issues/{sending_id}/cancel"' in page


def test_a_draft_has_no_refresh_and_no_controls(client: TestClient, issue_id: int) -> None:
    log_in(client)
    page = client.get(f"/admin/issues/{issue_id}").text
    assert REFRESH not in page and "<progress" not in page
    assert "No deliveries yet." in page
    assert not {"Pause", "Resume", "Cancel send"} & set(buttons(page))
    row = list_row(client, issue_id)
    assert "<td>draft</td>" in row and "<td>—</td>" in row


def test_pause_then_resume(client: TestClient, services: Services, sending_id: int) -> None:
    log_in(client)
    paused = control(client, sending_id, "pause")
    assert "Paused" in paused
    assert issue_status(services, sending_id) is IssueStatus.PAUSED
    assert REFRESH not in paused
    assert "Resume" in buttons(paused) and "Cancel send" in buttons(paused) and "Pause" not in buttons(paused)
    assert 'id="send-eta">none while paused<' in paused

    resumed = control(client, sending_id, "resume")
    assert "Resumed" in resumed
    assert issue_status(services, sending_id) is IssueStatus.SENDING
    assert REFRESH in resumed and "Pause" in buttons(resumed)


@pytest.mark.parametrize("pause_first", [False, True])
def test_cancel_skips_what_is_not_sent(
    client: TestClient, services: Services, sending_id: int, pause_first: bool
) -> None:
    log_in(client)
    if pause_first:
        control(client, sending_id, "pause")
    page = control(client, sending_id, "cancel")
    assert "Cancelled: 4 deliveries skipped." in page
    assert issue_status(services, sending_id) is IssueStatus.CANCELLED
    assert services.store.counts(sending_id)["skipped"] == 4
    assert 'id="count-skipped">4<' in page and 'id="count-queued">0<' in page
    assert '<progress id="send-progress" value="4" max="4">' in page
    assert REFRESH not in page
    assert not {"Pause", "Resume", "Cancel send"} & set(buttons(page))
    assert "This send was cancelled" in page and "Send to all" not in page


def test_worker_progress_on_the_page_and_in_the_list(client: TestClient, services: Services, sending_id: int) -> None:
    backend = services.backend
    assert isinstance(backend, MemoryBackend)
    backend.outcomes["reader3@example.net"] = SendResult(SendStatus.DEFERRED, 451, "try again later")
    Worker(services.store, services.backend, services.settings, services.links).run(drain=True)
    log_in(client)
    page = client.get(f"/admin/issues/{sending_id}").text
    assert '<progress id="send-progress" value="3" max="4"' in page
    assert 'id="count-sent">3<' in page and 'id="count-deferred">1<' in page
    assert REFRESH in page  # the deferred delivery keeps the issue sending
    assert 'id="send-eta">about ' in page

    row = list_row(client, sending_id)
    assert "<td>sending</td>" in row and "<td>3 / 4</td>" in row


@pytest.mark.parametrize(("action", "done"), [("pause", "paused"), ("resume", "resumed"), ("cancel", "cancelled")])
def test_controls_on_a_draft_say_why(
    client: TestClient, services: Services, issue_id: int, action: str, done: str
) -> None:
    log_in(client)
    page = control(client, issue_id, action)
    message = f"Not {done}: cannot {action} issue {issue_id}: it is draft"
    assert f'<p class="message error" role="alert">{message}</p>' in page
    assert issue_status(services, issue_id) is IssueStatus.DRAFT


def test_controls_on_an_unknown_issue_are_404(client: TestClient) -> None:
    log_in(client)
    token = csrf(client)
    for action in ("pause", "resume", "cancel"):
        assert client.post(f"/admin/issues/999/{action}", data={"csrf_token": token}).status_code == 404


def test_controls_need_the_csrf_token(client: TestClient, services: Services, sending_id: int) -> None:
    log_in(client)
    for action in ("pause", "resume", "cancel"):
        for data in ({}, {"csrf_token": "forged"}):
            assert client.post(f"/admin/issues/{sending_id}/{action}", data=data).status_code == 403
    assert issue_status(services, sending_id) is IssueStatus.SENDING
    assert services.store.counts(sending_id)["queued"] == 4


def test_controls_need_a_login(client: TestClient, services: Services, sending_id: int) -> None:
    for action in ("pause", "resume", "cancel"):
        response = client.post(f"/admin/issues/{sending_id}/{action}", data={"csrf_token": "x"}, follow_redirects=False)
        assert response.status_code == 401
    assert issue_status(services, sending_id) is IssueStatus.SENDING
