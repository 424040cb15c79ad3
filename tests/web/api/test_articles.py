"""The JSON API's articles through the real app: write in Markdown, read, search, edit, hide."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from newsletter.services import Services
from tests.factories import add_article
from tests.media.images import jpeg


@pytest.fixture
def api(client: TestClient, services: Services) -> TestClient:
    client.headers["Authorization"] = "Bearer " + services.api_tokens.create("tests").token
    return client


BODY = "The river rose overnight.\n\nBy morning the *bridge* was shut.\n\n> Nobody crossed."


def test_write_read_edit_and_hide(api: TestClient) -> None:
    created = api.post("/api/v1/articles", json={
        "title": "Flood <script>alert(1)</script>", "body_markdown": BODY, "author": "R. Water",
        "standfirst": "A wet week.", "url": "https://example.com/flood", "published_at": "2026-11-20T09:30:00+01:00",
    })
    assert created.status_code == 201, created.text
    article = created.json()
    assert created.headers["location"] == f"/api/v1/articles/{article['id']}"
    assert article["title"] == "Flood <script>alert(1)</script>"  # JSON keeps text as given; pages escape it
    assert article["paragraphs"] == ["The river rose overnight.", "By morning the bridge was shut.", "Nobody crossed."]
    assert article["published_at"] == "2026-11-20T08:30:00Z" and article["hidden"] is False
    assert api.get(f"/api/v1/articles/{article['id']}").json() == article

    edited = api.patch(f"/api/v1/articles/{article['id']}", json={"title": "Flood", "standfirst": "Still wet."})
    assert edited.status_code == 200, edited.text
    after = edited.json()
    assert (after["title"], after["standfirst"], after["author"]) == ("Flood", "Still wet.", "R. Water")
    assert after["paragraphs"] == article["paragraphs"]  # the body was left as it was

    rewritten = api.patch(f"/api/v1/articles/{article['id']}", json={"body_markdown": "Only this now."}).json()
    assert rewritten["paragraphs"] == ["Only this now."] and rewritten["title"] == "Flood"

    hidden = api.patch(f"/api/v1/articles/{article['id']}", json={"hidden": True}).json()
    assert hidden["hidden"] is True
    assert api.get("/api/v1/articles", params={"include_hidden": "false"}).json() == {"items": [], "total": 0}
    assert api.get("/api/v1/articles").json()["total"] == 1
    refused = api.post("/api/v1/issues", json={"subject": "With a hidden one", "article_ids": [article["id"]]})
    assert refused.status_code == 422 and refused.json()["fields"][0]["field"] == "article_ids"


def test_search_and_paginate(api: TestClient, services: Services) -> None:
    for n in range(5):
        add_article(services.sessions, f"Harbour notes {n}", author="Sea Writer" if n % 2 else "Land Writer")
    add_article(services.sessions, "Mountain pass", author="Hill Person")
    assert api.get("/api/v1/articles").json()["total"] == 6
    harbour = api.get("/api/v1/articles", params={"q": "HARBOUR", "limit": 2}).json()
    assert harbour["total"] == 5 and len(harbour["items"]) == 2
    assert api.get("/api/v1/articles", params={"q": "sea writer"}).json()["total"] == 2
    assert api.get("/api/v1/articles", params={"q": "100%_"}).json()["total"] == 0
    rest = api.get("/api/v1/articles", params={"q": "harbour", "limit": 2, "offset": 4}).json()
    assert rest["total"] == 5 and len(rest["items"]) == 1


BAD_ARTICLES: list[tuple[dict[str, Any], str]] = [
    ({"body_markdown": "Text."}, "title"),
    ({"title": "No body"}, "body_markdown"),
    ({"title": "  ", "body_markdown": "Text."}, "title"),
    ({"title": "t" * 501, "body_markdown": "Text."}, "title"),
    ({"title": "Fine", "body_markdown": "Text.", "url": "javascript:alert(1)"}, "url"),
    ({"title": "Fine", "body_markdown": "Text.", "published_at": "2026-11-20T09:30:00"}, "published_at"),
    ({"title": "Fine", "body_markdown": "Text.", "hidden": True}, "hidden"),
    ({"title": "Fine", "body_markdown": "Text.", "author": "a" * 201}, "author"),
]


def test_bad_articles_name_the_field(api: TestClient) -> None:
    for body, field in BAD_ARTICLES:
        response = api.post("/api/v1/articles", json=body)
        assert response.status_code == 422, response.text
        assert field in [f["field"] for f in response.json()["fields"]], body
    assert api.get("/api/v1/articles").json()["total"] == 0


def test_duplicates_unknown_ids_and_bad_queries(api: TestClient) -> None:
    first = api.post("/api/v1/articles", json={"title": "Once", "body_markdown": "Text."})
    assert first.status_code == 201
    twice = api.post("/api/v1/articles", json={"title": "Once", "body_markdown": "Other text."})
    assert twice.status_code == 422 and twice.json()["fields"][0]["field"] == "title"
    for method, body in (("GET", None), ("PATCH", {"hidden": True})):
        response = api.request(method, "/api/v1/articles/4242", json=body)
        assert response.status_code == 404
        assert response.json() == {"error": "There is no article 4242.", "status": 404}
    assert api.get("/api/v1/articles", params={"q": "x" * 201}).status_code == 422
    assert api.get("/api/v1/articles", params={"include_hidden": "perhaps"}).status_code == 422


RICH = ("## The crossing\n\nBy morning the *bridge* was shut.\n\n- sandbags\n- boats\n\n"
        "![The bridge at dawn](https://cdn.example/bridge.jpg \"Shut\")\n\n---\n\n> Nobody crossed.")


def test_the_body_comes_out_as_typed_blocks_with_the_feature_image(api: TestClient, services: Services) -> None:
    ours = services.media.add(jpeg(600, 300))
    created = api.post("/api/v1/articles", json={
        "title": "Flood", "body_markdown": RICH, "image_url": ours.url.removeprefix("http://newsletter.test"),
        "image_credit": "R. Water"})
    assert created.status_code == 201, created.text
    article = created.json()
    assert [block["kind"] for block in article["body"]] == ["heading", "paragraph", "list", "image", "divider", "quote"]
    heading, paragraph, bullets, image, _, quote = article["body"]
    assert (heading["level"], heading["html"]) == (2, "The crossing")
    assert paragraph["html"] == "By morning the <em>bridge</em> was shut."
    assert (bullets["ordered"], bullets["items"]) == (False, ["sandbags", "boats"])
    assert (image["src"], image["alt"], image["caption"]) == ("https://cdn.example/bridge.jpg", "The bridge at dawn",
                                                              "Shut")
    assert quote["html"] == "Nobody crossed."
    # Our /media/ path is stored as the absolute address an email needs.
    assert (article["image_url"], article["image_credit"]) == (ours.url, "R. Water")
    assert api.get(f"/api/v1/articles/{article['id']}").json() == article

    kept = api.patch(f"/api/v1/articles/{article['id']}", json={"title": "Flood, later"}).json()
    assert (kept["image_url"], kept["image_credit"]) == (ours.url, "R. Water")  # untouched when not given
    other = api.patch(f"/api/v1/articles/{article['id']}", json={"image_url": "https://cdn.example/b.jpg"}).json()
    assert (other["image_url"], other["image_credit"]) == ("https://cdn.example/b.jpg", "R. Water")
    removed = api.patch(f"/api/v1/articles/{article['id']}", json={"image_url": "", "image_credit": ""}).json()
    assert (removed["image_url"], removed["image_credit"]) == ("", "")


def test_an_older_article_without_blocks_lists_its_paragraphs_as_blocks(api: TestClient, services: Services) -> None:
    add_article(services.sessions, "Old piece", paragraphs=["One.", "Two."])
    [item] = api.get("/api/v1/articles").json()["items"]
    assert item["body"] == [{"kind": "paragraph", "html": "One."}, {"kind": "paragraph", "html": "Two."}]
    assert (item["image_url"], item["image_credit"]) == ("", "")


def test_a_bad_feature_image_names_its_field(api: TestClient) -> None:
    for image, field in (({"image_url": "ftp://cdn.example/a.jpg"}, "image_url"),
                         ({"image_url": "/media/elsewhere.jpg"}, "image_url"),
                         ({"image_url": "https://cdn.example/" + "a" * 1000}, "image_url"),
                         ({"image_credit": "c" * 301}, "image_credit")):
        response = api.post("/api/v1/articles", json={"title": "Fine", "body_markdown": "Text.", **image})
        assert response.status_code == 422, response.text
        assert [f["field"] for f in response.json()["fields"]] == [field], image
    assert api.get("/api/v1/articles").json()["total"] == 0
