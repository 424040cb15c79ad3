"""The article writing desk through the real app (no JavaScript): Preview without saving, the JSON
preview and autosave the page's script uses, the draft history with its revision view and restore,
the feature image, and what a forged or mistaken request gets."""

from __future__ import annotations

import html
import re

import pytest
from fastapi.testclient import TestClient

from newsletter.content import revisions
from newsletter.content.articles import get_article, list_articles
from newsletter.issues.editor import create_issue
from newsletter.services import Services
from tests.media.images import jpeg
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
    # A half-typed draft is normal while writing: 200, with what stops the preview and no HTML.
    assert answer.status_code == 200 and "body_markdown" in answer.json()["errors"]
    assert answer.json()["html"] == ""
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


# -- the feature image (issue 13): uploaded or pasted, previewed, saved with the article, removable


def _upload_feature(client: TestClient, token: str) -> dict[str, object]:
    """What static/media.js does with a chosen or dropped file: POST /admin/media, JSON back."""
    answer = client.post("/admin/media", data={"csrf_token": token}, files={"image": ("harbour.jpg", jpeg(1600, 900),
                         "image/jpeg")}, headers={"accept": "application/json"})
    assert answer.status_code == 201
    return answer.json()  # type: ignore[no-any-return]


def test_an_uploaded_feature_image_is_saved_and_the_issue_email_shows_it(
    client: TestClient, services: Services
) -> None:
    log_in(client)
    article_id = new_article(client, "Harbour at dawn")
    token = csrf(client, f"/admin/articles/{article_id}")
    item = _upload_feature(client, token)
    saved = client.post(f"/admin/articles/{article_id}", data={
        "csrf_token": token, "title": "Harbour at dawn", "body_markdown": BODY, "image_url": item["url"],
        "image_credit": "Photo: Sea Writer"}, follow_redirects=False)
    assert saved.status_code == 303
    article = get_article(services.sessions, article_id)
    assert (article.image_url, article.image_credit) == (item["url"], "Photo: Sea Writer")
    assert services.media.is_ours(article.image_url) and not services.media.missing(article.image_url)

    # The desk shows it back: the address in its field and a small preview.
    page = client.get(f"/admin/articles/{article_id}").text
    assert f'id="image_url" name="image_url" type="url" value="{item["url"]}"' in page
    assert re.search(rf'<img class="feature-preview" data-media-preview src="{re.escape(str(item["url"]))}"', page)
    assert 'name="image_remove"' in page

    issue_id = create_issue(services.sessions, services.settings, "With a feature image", [article_id])
    email = services.publisher.rendered(issue_id).html
    [tag] = [t for t in re.findall(r"<img\b[^>]*>", email) if "/media/" in t]
    assert f'src="{item["url"]}"' in tag and str(item["url"]).startswith("http://newsletter.test/media/")
    assert re.search(r'\balt="Harbour at dawn"', tag)
    # Sized from the stored file, as Outlook needs; scaled to the 552 px column, proportions kept.
    width, height = (int(re.search(rf'\b{name}="(\d+)"', tag).group(1)) for name in ("width", "height"))  # type: ignore[union-attr]
    assert width <= 552 and abs(width / height - item["width"] / item["height"]) < 0.02
    assert "Credit: Sea Writer" in email


def test_a_feature_image_can_be_pasted_previewed_autosaved_and_removed(
    client: TestClient, services: Services
) -> None:
    log_in(client)
    article_id = new_article(client)
    token = csrf(client, f"/admin/articles/{article_id}")
    stored = services.media.add(jpeg(600, 300))
    form = {"csrf_token": token, "title": "At the desk", "body_markdown": BODY}

    # A path copied from the site is made the absolute address an email needs.
    relative = stored.url.removeprefix("http://newsletter.test")
    preview = client.post("/admin/articles/preview", data={**form, "image_url": relative, "image_credit": "Me"})
    assert preview.json()["errors"] == {} and f'src="{stored.url}"' in preview.json()["html"]
    assert get_article(services.sessions, article_id).image_url == ""  # a preview stores nothing

    autosaved = client.post(f"/admin/articles/{article_id}/autosave", data={**form, "image_url": relative})
    assert autosaved.status_code == 200 and get_article(services.sessions, article_id).image_url == stored.url

    # Someone else's image by its https address is kept as given.
    client.post(f"/admin/articles/{article_id}", data={**form, "image_url": "https://cdn.example/a.jpg",
                                                       "image_credit": "Agency"})
    assert get_article(services.sessions, article_id).image_url == "https://cdn.example/a.jpg"

    # "Remove" (the box of the page without JavaScript) empties the address and the credit.
    client.post(f"/admin/articles/{article_id}", data={**form, "image_url": "https://cdn.example/a.jpg",
                                                       "image_credit": "Agency", "image_remove": "1"})
    article = get_article(services.sessions, article_id)
    assert (article.image_url, article.image_credit) == ("", "")
    assert 'name="image_remove"' not in client.get(f"/admin/articles/{article_id}").text


@pytest.mark.parametrize("image_url, credit, field, message", [
    ("javascript:alert(1)", "", "image_url", "must be a web address starting with http:// or https://"),
    ("/media/not-one-of-ours.jpg", "", "image_url", "one of our own /media/ images"),
    ("https://cdn.example/" + "a" * 1000 + ".jpg", "", "image_url", "at most 1,000 characters"),
    ("https://cdn.example/a.jpg", "c" * 301, "image_credit", "at most 300 characters"),
])
def test_a_bad_feature_image_is_refused_beside_its_field(
    client: TestClient, services: Services, image_url: str, credit: str, field: str, message: str
) -> None:
    log_in(client)
    article_id = new_article(client)
    token = csrf(client, f"/admin/articles/{article_id}")
    form = {"csrf_token": token, "title": "At the desk", "body_markdown": BODY, "image_url": image_url,
            "image_credit": credit}
    page = client.post(f"/admin/articles/{article_id}", data=form)
    assert page.status_code == 400
    assert re.search(rf'id="{field}-error" data-error-for="{field}">[^<]*{re.escape(html.escape(message))}', page.text)
    assert f'id="{field}" name="{field}"' in page.text and 'aria-invalid="true"' in page.text
    autosave = client.post(f"/admin/articles/{article_id}/autosave", data=form)
    assert autosave.status_code == 422 and message in autosave.json()["errors"][field]
    assert get_article(services.sessions, article_id).image_url == ""
