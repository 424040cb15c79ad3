"""The admin sources page through the real app: the list, adding a source, polling one now."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient
from pytest_httpserver import HTTPServer

from newsletter.services import Services
from newsletter.content.sources import add_source, list_sources
from tests.content.test_sources_feeds import RSS, rss, rss_item
from tests.web.admin.test_issues import csrf, log_in


def test_the_page_needs_a_login(client: TestClient) -> None:
    response = client.get("/admin/sources", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"].startswith("/admin/login")
    refused = client.post("/admin/sources", data={"location": "https://example.org/f", "csrf_token": "x"},
                          follow_redirects=False)
    assert refused.status_code in (401, 403)


def test_lists_sources_after_login(client: TestClient, services: Services, tmp_path: Path) -> None:
    add_source(services.sessions, "https://example.org/feed.xml", interval_minutes=45)
    add_source(services.sessions, str(tmp_path))
    log_in(client, "/admin/sources")
    page = client.get("/admin/sources")
    assert page.status_code == 200
    assert "https://example.org/feed.xml" in page.text and str(tmp_path) in page.text
    assert "45 min" in page.text and "never" in page.text and 'href="/admin/sources"' in page.text


def test_add_form_and_poll_now(client: TestClient, services: Services, httpserver: HTTPServer) -> None:
    httpserver.expect_request("/feed").respond_with_data(rss(rss_item("w-1", "Via the web")), content_type=RSS)
    log_in(client, "/admin/sources")
    token = csrf(client, "/admin/sources")
    added = client.post("/admin/sources", data={"location": httpserver.url_for("/feed"), "interval": "20",
                                                "csrf_token": token})
    assert added.status_code == 200 and "Added source" in added.text
    (source,) = list_sources(services.sessions)
    assert source.interval_minutes == 20

    polled = client.post(f"/admin/sources/{source.id}/poll", data={"csrf_token": token})
    assert polled.status_code == 200 and "1 added" in polled.text
    assert list_sources(services.sessions)[0].article_count == 1
    assert "The Test Feed" in client.get("/admin/sources").text


def test_errors_are_flashes_not_500s(client: TestClient, services: Services, httpserver: HTTPServer) -> None:
    httpserver.expect_request("/broken").respond_with_data("", status=500)
    log_in(client, "/admin/sources")
    token = csrf(client, "/admin/sources")
    bad = client.post("/admin/sources", data={"location": "ftp://example.org/x", "csrf_token": token})
    assert bad.status_code == 200 and "Not added" in bad.text and "http:// or https://" in bad.text
    interval = client.post("/admin/sources", data={"location": "https://e.org/f", "interval": "soon",
                                                   "csrf_token": token})
    assert "whole number of minutes" in interval.text
    assert list_sources(services.sessions) == []

    source = add_source(services.sessions, httpserver.url_for("/broken"))
    polled = client.post(f"/admin/sources/{source.id}/poll", data={"csrf_token": token})
    assert polled.status_code == 200 and "HTTP 500" in polled.text
    missing = client.post("/admin/sources/999/poll", data={"csrf_token": token})
    assert missing.status_code == 200 and "no source 999" in missing.text


def test_poll_needs_the_csrf_token(client: TestClient, services: Services) -> None:
    source = add_source(services.sessions, "https://example.org/feed.xml")
    log_in(client, "/admin/sources")
    response = client.post(f"/admin/sources/{source.id}/poll", data={"csrf_token": "wrong"})
    assert response.status_code == 403
    assert list_sources(services.sessions)[0].last_polled_at is None
