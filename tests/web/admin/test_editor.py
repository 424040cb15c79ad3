"""The issue editor and the article pages through the real app (no JavaScript): edit, preview,
reorder, add and remove articles, test sends, and what an editor may not do."""

from __future__ import annotations

import html
import re
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from newsletter.content.articles import get_article, list_articles, set_hidden
from newsletter.mail.backends.memory import MemoryBackend
from newsletter.issues.compose import compose
from newsletter.issues.editor import load_issue
from newsletter.services import Services
from newsletter.web.admin.editor import dark_variant
from tests.clock import mid_week
from tests.factories import add_article, add_subscribers
from tests.web.admin.test_issues import csrf, log_in

NOW = mid_week()  # Wednesday noon: minutes or days either side stay in its week, whatever the day
XSS = "<script>alert(1)</script>"


@pytest.fixture
def issue_id(services: Services) -> int:
    for n in range(3):
        add_article(services.sessions, f"Article {n}", NOW - timedelta(minutes=n), author="A. Writer")
    return compose(services.sessions, services.settings, now=NOW).issue_id


def titles(services: Services, issue_id: int) -> list[str]:
    return [a.title for a in load_issue(services.sessions, issue_id).articles]


def ids(services: Services, issue_id: int) -> list[int]:
    return [a.id for a in load_issue(services.sessions, issue_id).articles]


def field_error(page: str, name: str) -> str:
    match = re.search(rf'<p class="field-error" id="{name}-error"[^>]*>(.*?)</p>', page, re.S)
    assert match, f"no error paragraph for {name}"
    return html.unescape(match.group(1))


def edit(client: TestClient, issue_id: int, token: str, **values: str):  # noqa: ANN201
    data = {"csrf_token": token, "subject": "Subject", "preheader": "", "editor_note": "", **values}
    return client.post(f"/admin/issues/{issue_id}/edit", data=data)


def test_edit_subject_preheader_and_note(client: TestClient, services: Services, issue_id: int) -> None:
    log_in(client)
    token = csrf(client, f"/admin/issues/{issue_id}")
    response = edit(client, issue_id, token, subject="Fresh subject", preheader="Fresh preheader",
                    editor_note="Dear readers,\n\nHello.")
    assert response.status_code == 200 and "Saved." in response.text
    assert 'value="Fresh subject"' in response.text
    issue = load_issue(services.sessions, issue_id)
    assert (issue.subject, issue.preheader, issue.editor_note) == ("Fresh subject", "Fresh preheader",
                                                                   "Dear readers,\n\nHello.")
    assert "Dear readers," in client.get(f"/admin/issues/{issue_id}/preview.html").text
    assert "From the editor:" in client.get(f"/admin/issues/{issue_id}/preview.txt").text


def test_bad_values_are_shown_beside_their_fields_and_kept(client: TestClient, services: Services, issue_id: int) -> None:
    log_in(client)
    token = csrf(client, f"/admin/issues/{issue_id}")
    before = load_issue(services.sessions, issue_id)
    response = edit(client, issue_id, token, subject=" ", preheader="p" * 301, editor_note="kept note")
    assert response.status_code == 400
    assert field_error(response.text, "subject") == "enter a subject"
    assert "at most 300 characters" in field_error(response.text, "preheader")
    assert field_error(response.text, "editor_note") == ""
    assert "kept note</textarea>" in response.text
    assert 'id="subject" name="subject" type="text" value=" " maxlength="300" aria-describedby="subject-error" aria-invalid="true"' in response.text
    assert load_issue(services.sessions, issue_id) == before


def test_the_preview_button_shows_unsaved_values_without_saving(client: TestClient, services: Services, issue_id: int) -> None:
    log_in(client)
    token = csrf(client, f"/admin/issues/{issue_id}")
    response = edit(client, issue_id, token, subject="Unsaved subject", editor_note="Unsaved note", action="preview")
    assert response.status_code == 200
    frames = re.findall(r'<iframe [^>]*srcdoc="([^"]*)"', response.text)
    assert len(frames) == 3  # 600 px, 375 px and dark
    assert all("Unsaved note" in html.unescape(frame) for frame in frames)
    assert "@media all {" in html.unescape(frames[2])  # the dark frame: the email's own dark rules
    assert "Unsaved note" in re.search(r'<pre id="preview-text">(.*?)</pre>', response.text, re.S).group(1)  # type: ignore[union-attr]
    assert 'value="Unsaved subject"' in response.text
    assert load_issue(services.sessions, issue_id).editor_note == ""


def test_the_json_preview_renders_without_saving(client: TestClient, services: Services, issue_id: int) -> None:
    log_in(client)
    token = csrf(client, f"/admin/issues/{issue_id}")
    data = {"csrf_token": token, "subject": "Live", "preheader": "", "editor_note": f"Typed {XSS}"}
    response = client.post(f"/admin/issues/{issue_id}/preview", data=data)
    assert response.status_code == 200
    body = response.json()
    assert "Typed &lt;script&gt;" in body["html"] and XSS not in body["html"]
    assert "@media all {" in body["dark_html"] and "@media all {" not in body["html"]
    assert f"Typed {XSS}" in body["text"] and body["errors"] == {}
    assert "@@NL-SLOT" not in body["html"] + body["text"]
    bad = client.post(f"/admin/issues/{issue_id}/preview", data={**data, "subject": ""})
    assert bad.status_code == 422 and bad.json() == {"errors": {"subject": "enter a subject"}}
    assert client.post(f"/admin/issues/{issue_id}/preview", data={**data, "csrf_token": "x"}).status_code == 403
    assert load_issue(services.sessions, issue_id).subject != "Live"


def test_reorder_remove_and_add_articles(client: TestClient, services: Services, issue_id: int) -> None:
    log_in(client)
    token = csrf(client, f"/admin/issues/{issue_id}")
    first, second, third = ids(services, issue_id)
    page = client.post(f"/admin/issues/{issue_id}/articles/{second}/up", data={"csrf_token": token})
    assert "Article moved up." in page.text
    assert titles(services, issue_id) == ["Article 1", "Article 0", "Article 2"]
    # The page lists them in the new order; the first cannot go up, the last cannot go down.
    assert page.text.index(">Article 1<") < page.text.index(">Article 0<")
    assert re.search(r'aria-label="Up: Article 1" disabled', page.text)
    assert re.search(r'aria-label="Down: Article 2" disabled', page.text)
    client.post(f"/admin/issues/{issue_id}/articles/{second}/down", data={"csrf_token": token})
    assert titles(services, issue_id) == ["Article 0", "Article 1", "Article 2"]

    page = client.post(f"/admin/issues/{issue_id}/articles/{third}/remove", data={"csrf_token": token})
    assert "Article removed." in page.text and titles(services, issue_id) == ["Article 0", "Article 1"]
    # A removed article is offered again, and can be added back at the end.
    assert 'aria-label="Add: Article 2"' in page.text
    page = client.post(f"/admin/issues/{issue_id}/articles/add", data={"csrf_token": token, "article_id": str(third)})
    assert "Article added at the end." in page.text
    assert titles(services, issue_id) == ["Article 0", "Article 1", "Article 2"]
    assert first in ids(services, issue_id)

    again = client.post(f"/admin/issues/{issue_id}/articles/add", data={"csrf_token": token, "article_id": str(third)})
    assert "Not changed: Articles: an article is listed twice." in again.text


def test_hidden_articles_are_not_offered_and_search_narrows(client: TestClient, services: Services, issue_id: int) -> None:
    spare = add_article(services.sessions, "Spare piece", NOW - timedelta(days=1), author="Jo Bloggs")
    hidden = add_article(services.sessions, "Secret piece", NOW - timedelta(days=1))
    set_hidden(services.sessions, hidden, True)
    log_in(client)
    page = client.get(f"/admin/issues/{issue_id}").text
    assert "Add: Spare piece" in page and "Secret piece" not in page
    assert "Add: Spare piece" in client.get(f"/admin/issues/{issue_id}?q=bloggs").text
    empty = client.get(f"/admin/issues/{issue_id}?q=nothing+like+it").text
    assert "Add: Spare piece" not in empty and "No unsent article matches “nothing like it”." in empty
    token = csrf(client, f"/admin/issues/{issue_id}")
    refused = client.post(f"/admin/issues/{issue_id}/articles/add", data={"csrf_token": token, "article_id": str(hidden)})
    assert "hidden articles cannot be added: Secret piece" in refused.text
    assert spare not in ids(services, issue_id) and hidden not in ids(services, issue_id)


def test_every_editing_post_needs_the_csrf_token(client: TestClient, services: Services, issue_id: int) -> None:
    log_in(client)
    article = ids(services, issue_id)[1]
    posts = [
        (f"/admin/issues/{issue_id}/edit", {"subject": "Forged"}),
        (f"/admin/issues/{issue_id}/preview", {"subject": "Forged"}),
        (f"/admin/issues/{issue_id}/articles/{article}/up", {}),
        (f"/admin/issues/{issue_id}/articles/{article}/down", {}),
        (f"/admin/issues/{issue_id}/articles/{article}/remove", {}),
        (f"/admin/issues/{issue_id}/articles/add", {"article_id": str(article)}),
        (f"/admin/issues/{issue_id}/test", {"test_address": "a@example.org"}),
        ("/admin/issues/new", {"subject": "Forged"}),
        ("/admin/articles/new", {"title": "Forged", "body_markdown": "Body."}),
        (f"/admin/articles/{article}", {"title": "Forged", "body_markdown": "Body."}),
        (f"/admin/articles/{article}/hide", {}),
    ]
    before = load_issue(services.sessions, issue_id)
    for url, data in posts:
        for token in ({}, {"csrf_token": "forged"}):
            assert client.post(url, data={**data, **token}).status_code == 403, url
    assert load_issue(services.sessions, issue_id) == before
    assert [a.title for a in list_articles(services.sessions)] == ["Article 0", "Article 1", "Article 2"]
    assert not get_article(services.sessions, article).hidden
    assert isinstance(services.backend, MemoryBackend) and services.backend.sent == []


def test_script_in_user_text_is_escaped_on_every_page(client: TestClient, services: Services, issue_id: int) -> None:
    spare = add_article(services.sessions, f"Spare {XSS}", NOW - timedelta(days=1), author=XSS)
    log_in(client)
    token = csrf(client, f"/admin/issues/{issue_id}")
    edit(client, issue_id, token, subject=f"Subject {XSS}", preheader=XSS, editor_note=f"Note {XSS}")
    client.post(f"/admin/articles/{ids(services, issue_id)[0]}",
                data={"csrf_token": token, "title": f"Title {XSS}", "body_markdown": f"Body {XSS}",
                      "author": XSS, "standfirst": XSS, "url": ""})
    pages = [
        "/admin/issues",
        f"/admin/issues/{issue_id}",
        f"/admin/issues/{issue_id}/preview",
        "/admin/articles",
        f"/admin/articles/{ids(services, issue_id)[0]}",
        f"/admin/articles/{spare}",
    ]
    for url in pages:
        page = client.get(url)
        assert page.status_code == 200, url
        assert "<script>alert" not in page.text, url
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text, url
    # The unsaved preview and an invalid form echo it escaped too.
    shown = edit(client, issue_id, token, subject="", editor_note=XSS)
    assert shown.status_code == 400 and "<script>alert" not in shown.text
    bad = client.post("/admin/articles/new", data={"csrf_token": token, "title": XSS, "body_markdown": "",
                                                   "author": "", "standfirst": "", "url": XSS})
    assert bad.status_code == 400 and "<script>alert" not in bad.text


def test_a_sending_issue_cannot_be_edited(client: TestClient, services: Services, issue_id: int) -> None:
    add_subscribers(services.sessions, 2)
    services.publisher.queue(issue_id, force=True)
    log_in(client)
    page = client.get(f"/admin/issues/{issue_id}").text
    assert "This issue is sending: it can no longer be edited." in page
    assert 'id="edit-form"' not in page and 'aria-label="Up:' not in page and "Add an article" not in page
    token = csrf(client, f"/admin/issues/{issue_id}")
    response = edit(client, issue_id, token, subject="Too late")
    assert response.status_code == 409
    assert "Not changed: issue 1 is sending: only a draft or scheduled issue can be edited." in html.unescape(response.text)
    moved = client.post(f"/admin/issues/{issue_id}/articles/{ids(services, issue_id)[1]}/up", data={"csrf_token": token})
    assert moved.status_code == 409 and "can be edited" in moved.text
    assert titles(services, issue_id) == ["Article 0", "Article 1", "Article 2"]
    assert load_issue(services.sessions, issue_id).subject != "Too late"
    assert 'id="figure-recipients">2<' in client.get(f"/admin/issues/{issue_id}").text  # the send's figures


def test_schedule_from_the_datetime_field(client: TestClient, services: Services, issue_id: int) -> None:
    log_in(client)
    token = csrf(client, f"/admin/issues/{issue_id}")
    assert 'id="send_at" name="send_at" type="datetime-local"' in client.get(f"/admin/issues/{issue_id}").text
    page = client.post(f"/admin/issues/{issue_id}/schedule", data={"csrf_token": token, "send_at": "2099-07-01T09:30"})
    assert "2099-07-01 09:30 BST" in page.text and "2099-07-01 08:30 UTC" in page.text  # the list's zone
    # A scheduled issue is still editable until it goes out.
    assert edit(client, issue_id, token, subject="Changed while scheduled").status_code == 200
    assert load_issue(services.sessions, issue_id).subject == "Changed while scheduled"


def test_test_send_to_several_addresses(client: TestClient, services: Services, issue_id: int) -> None:
    log_in(client)
    token = csrf(client, f"/admin/issues/{issue_id}")
    response = client.post(f"/admin/issues/{issue_id}/test",
                           data={"csrf_token": token, "test_address": "one@example.org,\nTwo@Example.org; one@example.org"})
    assert "Test sent to one@example.org, two@example.org." in response.text
    assert isinstance(services.backend, MemoryBackend)
    assert sorted(m.recipient for m in services.backend.sent) == ["one@example.org", "two@example.org"]


@pytest.mark.parametrize(
    ("given", "words"),
    [("", "enter at least one address"), (",".join(f"r{n}@example.org" for n in range(11)), "at most 10 addresses"),
     ("good@example.org, nope", "nope: ")],
)
def test_bad_test_addresses_are_named_beside_the_field(
    client: TestClient, services: Services, issue_id: int, given: str, words: str
) -> None:
    log_in(client)
    token = csrf(client, f"/admin/issues/{issue_id}")
    response = client.post(f"/admin/issues/{issue_id}/test", data={"csrf_token": token, "test_address": given})
    assert response.status_code == 400
    assert words in field_error(response.text, "test_address")
    assert f">{html.escape(given)}</textarea>" in response.text  # kept for correcting
    assert isinstance(services.backend, MemoryBackend) and services.backend.sent == []


def test_issues_list_new_issue_and_dark_preview(client: TestClient, services: Services, issue_id: int) -> None:
    log_in(client)
    token = csrf(client)
    empty = client.post("/admin/issues/new", data={"csrf_token": token, "subject": "  "})
    assert empty.status_code == 400 and "enter a subject" in empty.text
    made = client.post("/admin/issues/new", data={"csrf_token": token, "subject": "Special edition"})
    assert "New draft created" in made.text and "No articles yet: add some below." in made.text
    assert 'aria-label="Add: Article 0"' in made.text  # a draft's articles may go into another draft
    listing = client.get("/admin/issues").text
    assert "Special edition" in listing and "Bounced" in listing and "Opened" in listing

    dark = client.get(f"/admin/issues/{issue_id}/preview.html?dark=1")
    assert dark.status_code == 200 and "@media all {" in dark.text and "invert(1)" not in dark.text
    assert "@media all {" not in client.get(f"/admin/issues/{issue_id}/preview.html").text
    script = client.get("/static/editor.js")
    assert script.status_code == 200 and "javascript" in script.headers["content-type"]
    policy = client.get(f"/admin/issues/{issue_id}").headers["content-security-policy"]
    assert "script-src 'self'" in policy and "unsafe-eval" not in policy


def test_dark_mode_uses_the_emails_own_dark_rules_when_it_has_them() -> None:
    own = "<html><head><style>@media (prefers-color-scheme: dark) { body { background: #000 } }</style></head></html>"
    assert dark_variant(own) == own.replace("(prefers-color-scheme: dark)", "all")
    plain = "<html><head><title>t</title></head><body>x</body></html>"
    forced = dark_variant(plain)
    assert "invert(1)" in forced and forced.index("invert(1)") < forced.index("</head>")


def test_articles_list_search_hidden_filter_and_pages(client: TestClient, services: Services) -> None:
    for n in range(55):
        add_article(services.sessions, f"Piece {n:02d}", NOW - timedelta(minutes=n), author="Sam" if n else "Jo Bloggs")
    set_hidden(services.sessions, list_articles(services.sessions, "Piece 01")[0].id, True)
    log_in(client)
    first = client.get("/admin/articles").text
    assert "1–50 of 54 articles" in first and "Piece 01" not in first and 'rel="next"' in first
    second = client.get("/admin/articles?page=2").text
    assert "51–54 of 54" in second and "Piece 54" in second
    with_hidden = client.get("/admin/articles?hidden=1").text
    assert "of 55 articles" in with_hidden and "Piece 01" in with_hidden and ">hidden<" in with_hidden
    assert "1–1 of 1 article matching" in client.get("/admin/articles?q=bloggs").text
    assert "No articles match." in client.get("/admin/articles?q=zzz").text


def test_new_article_in_markdown_with_messages_beside_fields(client: TestClient, services: Services) -> None:
    log_in(client)
    token = csrf(client, "/admin/articles/new")
    data = {"csrf_token": token, "title": "", "author": "A" * 201, "standfirst": "", "url": "ftp://x.org/",
            "body_markdown": ""}
    bad = client.post("/admin/articles/new", data=data)
    assert bad.status_code == 400
    assert field_error(bad.text, "title") == "enter a title"
    assert "at most 200 characters" in field_error(bad.text, "author")
    assert "http:// or https://" in field_error(bad.text, "url")
    assert field_error(bad.text, "body_markdown") == "write at least one paragraph"
    assert field_error(bad.text, "standfirst") == ""
    assert 'value="ftp://x.org/"' in bad.text  # kept for correcting
    assert list_articles(services.sessions) == []

    good = client.post("/admin/articles/new", data={**data, "title": "Written here", "author": "Ed",
                                                    "url": "https://example.org/w", "body_markdown": "One *two*.\n\n> Quote"})
    assert "Article added" in good.text
    [made] = list_articles(services.sessions)
    assert made.paragraphs == ["One two.", "Quote"] and made.url == "https://example.org/w"
    assert "One *two*.\n\n&gt; Quote</textarea>" in good.text  # the writer's Markdown, as typed


def test_edit_hide_and_show_an_article(client: TestClient, services: Services, issue_id: int) -> None:
    article = ids(services, issue_id)[0]
    log_in(client)
    token = csrf(client, f"/admin/articles/{article}")
    saved = client.post(f"/admin/articles/{article}", data={"csrf_token": token, "title": "Renamed", "author": "",
                                                            "standfirst": "", "url": "", "body_markdown": "New body."})
    assert "Saved." in saved.text and get_article(services.sessions, article).title == "Renamed"
    # The draft holding it shows the change.
    assert "New body." in client.get(f"/admin/issues/{issue_id}/preview.html").text
    hidden = client.post(f"/admin/articles/{article}/hide", data={"csrf_token": token})
    assert "Hidden:" in hidden.text and "Show this article" in hidden.text
    assert get_article(services.sessions, article).hidden
    shown = client.post(f"/admin/articles/{article}/unhide", data={"csrf_token": token})
    assert "Shown again" in shown.text and not get_article(services.sessions, article).hidden
    assert client.get("/admin/articles/999").status_code == 404
    assert client.post("/admin/articles/999/hide", data={"csrf_token": token}).status_code == 404
