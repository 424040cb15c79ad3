"""The article writing desk through the real app (no JavaScript): Preview without saving, the JSON
preview and autosave the page's script uses, the draft history with its revision view and restore,
and what a forged or mistaken request gets."""

from __future__ import annotations

import html
import re

from fastapi.testclient import TestClient

from newsletter.content import revisions
from newsletter.content.articles import get_article, list_articles
from newsletter.services import Services
from tests.web.admin.test_issues import csrf, log_in

BODY = "Read the [full report](https://example.org/report).\n\n> Worth quoting"


def srcdoc(page: str) -> str:
    match = re.search(r'<iframe id="article-preview"[^>]* srcdoc="([^"]*)"', page)
    assert match, "no inline preview on the page"
    return html.unescape(match.group(1))


def new_article(client: TestClient, title: str = "At the desk", body: str = BODY) -> int:
    token = csrf(client, "/admin/articles/new")
    response = client.post("/admin/articles/new", data={"csrf_token": token, "title": title, "body_markdown": body},
                           follow_redirects=False)
    assert response.status_code == 303
    return int(response.headers["location"].rsplit("/", 1)[1])


def test_preview_without_javascript_shows_the_email_and_saves_nothing(client: TestClient, services: Services) -> None:
    log_in(client)
    token = csrf(client, "/admin/articles/new")
    response = client.post("/admin/articles/new", data={"csrf_token": token, "title": "Only a preview",
                                                         "body_markdown": BODY, "action": "preview"})
    assert response.status_code == 200
    shown = srcdoc(response.text)
    assert "Only a preview" in shown and "Worth quoting" in shown
    assert "Only a preview</textarea>" not in response.text and 'value="Only a preview"' in response.text
    assert list_articles(services.sessions) == []

    article_id = new_article(client)
    token = csrf(client, f"/admin/articles/{article_id}")
    response = client.post(f"/admin/articles/{article_id}", data={
        "csrf_token": token, "title": "Retitled, unsaved", "body_markdown": BODY, "action": "preview"})
    assert "Retitled, unsaved" in srcdoc(response.text)
    assert get_article(services.sessions, article_id).title == "At the desk"
    # Before anything is typed the frame shows the article as saved.
    assert "At the desk" in client.get(f"/admin/articles/{article_id}/preview.html").text


def test_a_preview_of_a_broken_draft_says_why(client: TestClient) -> None:
    log_in(client)
    token = csrf(client, "/admin/articles/new")
    response = client.post("/admin/articles/new", data={"csrf_token": token, "title": "", "body_markdown": "x",
                                                         "action": "preview"})
    assert response.status_code == 400 and "enter a title" in response.text
    answer = client.post("/admin/articles/preview", data={"csrf_token": token, "title": "T", "body_markdown": ""})
    assert answer.status_code == 422 and "body_markdown" in answer.json()["errors"]
    answer = client.post("/admin/articles/preview", data={"csrf_token": token, "title": "Live", "body_markdown": BODY})
    assert answer.status_code == 200 and "Live" in answer.json()["html"]


def test_autosave_saves_keeps_revisions_and_lists_them(client: TestClient, services: Services) -> None:
    log_in(client)
    article_id = new_article(client)
    token = csrf(client, f"/admin/articles/{article_id}")
    url = f"/admin/articles/{article_id}/autosave"
    answer = client.post(url, data={"csrf_token": token, "title": "Autosaved", "body_markdown": BODY + "\n\nMore."})
    assert answer.status_code == 200
    data = answer.json()
    assert data["added"] and len(data["revisions"]) == 2 and data["saved_at"] == data["revisions"][0]["when"]
    assert get_article(services.sessions, article_id).title == "Autosaved"
    # The same text again adds no revision.
    again = client.post(url, data={"csrf_token": token, "title": "Autosaved", "body_markdown": BODY + "\n\nMore."})
    assert not again.json()["added"] and len(again.json()["revisions"]) == 2
    # Half-typed text is refused field by field and the article stays as it was.
    bad = client.post(url, data={"csrf_token": token, "title": " ", "body_markdown": "x"})
    assert bad.status_code == 422 and bad.json()["errors"]["title"] == "enter a title"
    assert get_article(services.sessions, article_id).title == "Autosaved"
    assert client.post("/admin/articles/9999/autosave",
                       data={"csrf_token": token, "title": "x", "body_markdown": "x"}).status_code == 404
    page = client.get(f"/admin/articles/{article_id}").text
    assert page.count(f'href="/admin/articles/{article_id}/revisions/') == 2
    # The form shows the writer's own Markdown back, the link's address included.
    assert "[full report](https://example.org/report)" in page


def test_view_and_restore_an_earlier_revision(client: TestClient, services: Services) -> None:
    log_in(client)
    article_id = new_article(client)
    token = csrf(client, f"/admin/articles/{article_id}")
    client.post(f"/admin/articles/{article_id}", data={"csrf_token": token, "title": "Second thoughts",
                                                       "body_markdown": "Nothing left of it."})
    first = revisions.list_revisions(services.sessions, article_id)[-1]
    page = client.get(f"/admin/articles/{article_id}/revisions/{first.id}")
    assert page.status_code == 200 and "Restore this revision" in page.text
    assert "[full report](https://example.org/report)" in html.unescape(
        re.search(r'<pre id="revision-body">(.*?)</pre>', page.text, re.S).group(1))  # type: ignore[union-attr]
    restored = client.post(f"/admin/articles/{article_id}/revisions/{first.id}/restore", data={"csrf_token": token})
    assert restored.status_code == 200 and "Restored the revision of" in restored.text
    assert get_article(services.sessions, article_id).title == "At the desk"
    assert [r.title for r in revisions.list_revisions(services.sessions, article_id)] == [
        "At the desk", "Second thoughts", "At the desk"]


def test_forged_and_mistaken_requests_change_nothing(client: TestClient, services: Services) -> None:
    log_in(client)
    mine, other = new_article(client), new_article(client, "Someone else's")
    theirs = revisions.list_revisions(services.sessions, other)[0]
    token = csrf(client, f"/admin/articles/{mine}")
    assert client.get(f"/admin/articles/{mine}/revisions/{theirs.id}").status_code == 404
    assert client.post(f"/admin/articles/{mine}/revisions/{theirs.id}/restore",
                       data={"csrf_token": token}).status_code == 404
    for url, data in ((f"/admin/articles/{mine}/autosave", {"title": "Forged", "body_markdown": "x"}),
                      (f"/admin/articles/{mine}/revisions/{theirs.id}/restore", {}),
                      ("/admin/articles/preview", {"title": "Forged", "body_markdown": "x"})):
        for forged in ({}, {"csrf_token": "forged"}):
            assert client.post(url, data={**data, **forged}).status_code == 403, url
    assert get_article(services.sessions, mine).title == "At the desk"
    assert len(revisions.list_revisions(services.sessions, mine)) == 1
