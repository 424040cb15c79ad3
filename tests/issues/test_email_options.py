"""An issue's email options through the real app: excerpts with the whole article on the web
version, the list's postal address (footer, preflight, the preview's prompt), and the admin's dark
preview showing the email's own dark version."""

from __future__ import annotations

import email
import email.policy

import pytest
from fastapi.testclient import TestClient

from newsletter.delivery.dispatch import Worker
from newsletter.issues.compose import compose
from newsletter.issues.editor import InvalidIssueEdit, load_issue, update_issue
from newsletter.issues.list_profile import load_profile, save_profile
from newsletter.issues.preflight import check_issue
from newsletter.services import Services
from tests.clock import mid_week
from tests.factories import add_article, add_subscribers
from tests.web.admin.test_issues import csrf, log_in

NOW = mid_week()
PARAGRAPHS = ["The opening paragraph.", "The second paragraph.", "The third paragraph, only on the web."]
PROMPT = "Add your postal address in"


@pytest.fixture
def issue_id(services: Services) -> int:
    add_article(services.sessions, "The long read", NOW, paragraphs=PARAGRAPHS)
    return compose(services.sessions, services.settings, now=NOW).issue_id


def sent_html(services: Services) -> str:
    [message] = services.backend.sent  # type: ignore[attr-defined]
    parsed = email.message_from_bytes(message.data, policy=email.policy.default)
    part = parsed.get_body(preferencelist=("html",))
    assert part is not None
    return str(part.get_content())


def send(services: Services, issue_id: int) -> None:
    services.publisher.queue(issue_id)
    Worker(services.store, services.backend, services.settings, services.links).run(drain=True)


def test_an_excerpt_issue_links_to_the_whole_article_on_the_web(client: TestClient, services: Services,
                                                                  issue_id: int) -> None:
    add_subscribers(services.sessions, 1)
    update_issue(services.sessions, services.settings, issue_id, article_mode="excerpt")
    assert load_issue(services.sessions, issue_id).article_mode == "excerpt"
    send(services, issue_id)
    html = sent_html(services)
    assert "The second paragraph." in html and "only on the web" not in html
    link = 'href="http://newsletter.test/archive/1#article-1"'
    assert link in html and "Read the whole article" in html
    page = client.get("/archive/1")
    assert page.status_code == 200
    assert "only on the web" in page.text and 'id="article-1"' in page.text


def test_an_unknown_article_mode_is_refused(services: Services, issue_id: int) -> None:
    with pytest.raises(InvalidIssueEdit) as caught:
        update_issue(services.sessions, services.settings, issue_id, article_mode="teaser")
    assert "article_mode" in caught.value.errors


def test_the_postal_address_is_in_the_footer_once_set(services: Services, issue_id: int) -> None:
    warned = [f.code for f in check_issue(services, issue_id).warnings]
    assert "postal-address" in warned
    save_profile(services.sessions, services.settings, postal_address="1 High Street\nLondon N1 1AA")
    assert "postal-address" not in [f.code for f in check_issue(services, issue_id).warnings]
    add_subscribers(services.sessions, 1)
    send(services, issue_id)
    assert "1 High Street<br />London N1 1AA" in sent_html(services)


def test_the_preview_prompts_for_the_postal_address_but_readers_never_see_it(
    client: TestClient, services: Services, issue_id: int
) -> None:
    log_in(client)
    preview = client.get(f"/admin/issues/{issue_id}/preview.html").text
    assert PROMPT in preview and 'href="/admin/settings#postal_address"' in preview
    add_subscribers(services.sessions, 1)
    send(services, issue_id)
    assert PROMPT not in sent_html(services)


def test_the_settings_page_saves_the_postal_address(client: TestClient, services: Services, issue_id: int) -> None:
    log_in(client, "/admin/settings")
    token = csrf(client, "/admin/settings")
    response = client.post("/admin/settings", data={"csrf_token": token, "postal_address": "1 High Street\r\nLondon",
                                                    "list_name": "", "from_address": ""})
    assert response.status_code == 200
    assert load_profile(services.sessions, services.settings).postal_address == "1 High Street\nLondon"
    assert "1 High Street\nLondon</textarea>" in client.get("/admin/settings").text
    preview = client.get(f"/admin/issues/{issue_id}/preview.html").text
    assert PROMPT not in preview and "1 High Street<br />London" in preview


def test_the_dark_preview_is_the_emails_own_dark_version(client: TestClient, issue_id: int) -> None:
    log_in(client)
    dark = client.get(f"/admin/issues/{issue_id}/preview.html?dark=1").text
    assert "invert(1)" not in dark  # not a simulated inversion
    assert "@media all {" in dark and ".card, .card > table { background: #24221f" in dark


def test_the_issue_editor_sets_the_article_mode(client: TestClient, services: Services, issue_id: int) -> None:
    log_in(client)
    page = f"/admin/issues/{issue_id}"
    token = csrf(client, page)
    form = {"csrf_token": token, "subject": "A week", "preheader": "", "editor_note": "", "article_mode": "excerpt"}
    preview = client.post(f"{page}/preview", data=form).json()
    assert "Read the whole article" in preview["html"]
    assert client.post(f"{page}/edit", data=form).status_code == 200
    assert load_issue(services.sessions, issue_id).article_mode == "excerpt"
    assert 'value="excerpt" checked' in client.get(page).text


def test_the_api_reads_and_changes_the_article_mode(client: TestClient, services: Services, issue_id: int) -> None:
    client.headers["Authorization"] = "Bearer " + services.api_tokens.create("tests").token
    assert client.get(f"/api/v1/issues/{issue_id}").json()["article_mode"] == "full"
    changed = client.patch(f"/api/v1/issues/{issue_id}", json={"article_mode": "excerpt"})
    assert changed.status_code == 200 and changed.json()["article_mode"] == "excerpt"
    assert client.patch(f"/api/v1/issues/{issue_id}", json={"article_mode": "teaser"}).status_code == 422
