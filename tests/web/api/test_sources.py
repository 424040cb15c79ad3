"""The JSON API's sources through the real app: list, add a feed, start a poll; feeds on public
addresses only, no folders, nothing fetched inside the request."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from pytest_httpserver import HTTPServer

from newsletter.config import Settings
from newsletter.content.sources import add_source, list_sources
from newsletter.services import Services
from newsletter.web import create_app
from tests.content.test_sources_feeds import RSS, rss, rss_item


@pytest.fixture
def api(client: TestClient, services: Services) -> TestClient:
    client.headers["Authorization"] = "Bearer " + services.api_tokens.create("tests").token
    return client


@pytest.fixture
def trusted_api(settings: Settings) -> Iterator[tuple[TestClient, Services]]:
    """The API with NEWSLETTER_SOURCES_ALLOW_PRIVATE=1, so the test's loopback feed server is allowed."""
    services = Services.build(settings.model_copy(update={"sources_allow_private": True}))
    try:
        with TestClient(create_app(services)) as client:
            client.headers["Authorization"] = "Bearer " + services.api_tokens.create("tests").token
            yield client, services
    finally:
        services.close()


def test_add_a_feed_list_it_and_poll_it(trusted_api: tuple[TestClient, Services], httpserver: HTTPServer) -> None:
    api, services = trusted_api
    httpserver.expect_request("/feed").respond_with_data(rss(rss_item("a-1", "By API")), content_type=RSS)
    url = f"http://127.0.0.1:{httpserver.port}/feed"
    created = api.post("/api/v1/sources", json={"location": url, "interval_minutes": 15})
    assert created.status_code == 201, created.text
    source = created.json()
    assert created.headers["location"] == f"/api/v1/sources/{source['id']}"
    assert (source["kind"], source["location"], source["interval_minutes"]) == ("feed", url, 15)
    assert source["last_polled_at"] is None  # the answer came before its first poll

    (listed,) = api.get("/api/v1/sources").json()["items"]  # the first poll ran after the answer
    assert listed["article_count"] == 1 and listed["title"] == "The Test Feed" and listed["last_error"] is None
    assert api.get("/api/v1/sources").json()["total"] == 1

    polled = api.post(f"/api/v1/sources/{source['id']}/poll")
    assert polled.status_code == 202 and polled.json()["status"] == "started"
    assert len(httpserver.log) == 2
    assert api.get(f"/api/v1/sources/{source['id']}").json()["article_count"] == 1


@pytest.mark.parametrize("location", [
    "http://127.0.0.1:{port}/feed", "http://169.254.169.254/latest/meta-data/", "http://localhost:{port}/feed",
])  # fmt: skip
def test_private_addresses_are_422_and_nothing_is_fetched(
    api: TestClient, services: Services, httpserver: HTTPServer, location: str
) -> None:
    httpserver.expect_request("/feed").respond_with_data(rss(rss_item("x-1", "Inside")), content_type=RSS)
    refused = api.post("/api/v1/sources", json={"location": location.format(port=httpserver.port)})
    assert refused.status_code == 422
    body = refused.json()
    assert "is not a public internet address" in body["error"] and body["fields"][0]["field"] == "location"
    assert list_sources(services.sessions) == [] and httpserver.log == []


@pytest.mark.parametrize("location", ["/root", "/", "file:///etc/passwd"])
def test_folders_are_422(api: TestClient, services: Services, location: str) -> None:
    refused = api.post("/api/v1/sources", json={"location": location})
    assert refused.status_code == 422
    assert "folders on the server are added from its command line" in refused.json()["error"]
    assert list_sources(services.sessions) == []


def test_unknown_ids_bad_bodies_and_no_token(api: TestClient, services: Services) -> None:
    assert api.post("/api/v1/sources/999/poll").status_code == 404
    assert api.get("/api/v1/sources/999").json()["error"] == "There is no source 999."
    assert api.post("/api/v1/sources", json={"location": "https://e.org/f", "interval_minutes": 0}).status_code == 422
    assert api.post("/api/v1/sources", json={"location": "https://e.org/f", "extra": 1}).status_code == 422
    add_source(services.sessions, "https://example.org/feed.xml")
    duplicate = api.post("/api/v1/sources", json={"location": "https://example.org/feed.xml"})
    assert duplicate.status_code == 422 and "already source" in duplicate.json()["error"]
    del api.headers["Authorization"]
    assert api.get("/api/v1/sources").status_code == 401
    assert api.post("/api/v1/sources", json={"location": "https://e.org/f"}).status_code == 401
    assert [s.location for s in list_sources(services.sessions)] == ["https://example.org/feed.xml"]
