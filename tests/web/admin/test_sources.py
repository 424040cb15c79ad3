"""The admin sources page through the real app: the list, adding a feed, polling one now.

Feeds only, on public addresses (unless sources_allow_private), fetched after the answer.
"""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from fastapi.testclient import TestClient
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from newsletter.config import Settings
from newsletter.services import Services
from newsletter.content.sources import add_source, list_sources
from newsletter.web import create_app
from tests.content.test_sources_feeds import RSS, rss, rss_item
from tests.web.admin.test_issues import PASSWORD, csrf, log_in

WAIT = 30.0  # a bound on waiting for a background poll, never a timing assertion


@pytest.fixture
def trusted(settings: Settings) -> Iterator[tuple[TestClient, Services]]:
    """The app with NEWSLETTER_SOURCES_ALLOW_PRIVATE=1, so a feed on the test's loopback server is allowed."""
    services = Services.build(settings.model_copy(update={"sources_allow_private": True}))
    try:
        with TestClient(create_app(services)) as client:
            yield client, services
    finally:
        services.close()


def flash(response: httpx.Response) -> str:
    """The page's one message (a flash after a redirect), unescaped enough to compare."""
    match = re.search(r'<p class="message \w+"[^>]*>(.*?)</p>', response.text, re.S)
    return match.group(1).replace("&#39;", "'").replace("&amp;", "&") if match else ""


def test_the_page_needs_a_login(client: TestClient) -> None:
    response = client.get("/admin/sources", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"].startswith("/admin/login")
    refused = client.post("/admin/sources", data={"location": "https://example.org/f", "csrf_token": "x"},
                          follow_redirects=False)
    assert refused.status_code in (401, 403)


def test_lists_sources_after_login(client: TestClient, services: Services, tmp_path: Path) -> None:
    add_source(services.sessions, "https://example.org/feed.xml", interval_minutes=45)
    add_source(services.sessions, str(tmp_path), allow_local=True)  # folders come from the CLI
    log_in(client, "/admin/sources")
    page = client.get("/admin/sources")
    assert page.status_code == 200
    assert "https://example.org/feed.xml" in page.text and str(tmp_path) in page.text
    assert "45 min" in page.text and "never" in page.text and 'href="/admin/sources"' in page.text


def test_add_form_and_poll_now_with_allow_private(
    trusted: tuple[TestClient, Services], httpserver: HTTPServer
) -> None:
    client, services = trusted
    httpserver.expect_request("/feed").respond_with_data(rss(rss_item("w-1", "Via the web")), content_type=RSS)
    log_in(client, "/admin/sources")
    token = csrf(client, "/admin/sources")
    url = f"http://127.0.0.1:{httpserver.port}/feed"
    added = client.post("/admin/sources", data={"location": url, "interval": "20", "csrf_token": token})
    assert added.status_code == 200 and "Added source" in added.text and "first poll has started" in added.text
    (source,) = list_sources(services.sessions)
    assert source.interval_minutes == 20 and source.article_count == 1  # the first poll ran after the answer
    assert "The Test Feed" in client.get("/admin/sources").text

    polled = client.post(f"/admin/sources/{source.id}/poll", data={"csrf_token": token})
    assert polled.status_code == 200 and f"Poll of source {source.id} started" in polled.text
    assert len(httpserver.log) == 2 and list_sources(services.sessions)[0].article_count == 1


def test_errors_are_flashes_not_500s(trusted: tuple[TestClient, Services], httpserver: HTTPServer) -> None:
    client, services = trusted
    httpserver.expect_request("/broken").respond_with_data("", status=500)
    log_in(client, "/admin/sources")
    token = csrf(client, "/admin/sources")
    bad = client.post("/admin/sources", data={"location": "ftp://example.org/x", "csrf_token": token})
    assert bad.status_code == 200 and "Not added" in bad.text and "http:// or https://" in bad.text
    interval = client.post("/admin/sources", data={"location": "https://e.org/f", "interval": "soon",
                                                   "csrf_token": token})
    assert "whole number of minutes" in interval.text
    assert list_sources(services.sessions) == []

    source = add_source(services.sessions, httpserver.url_for("/broken"), allow_private=True)
    polled = client.post(f"/admin/sources/{source.id}/poll", data={"csrf_token": token})
    assert polled.status_code == 200 and "started" in polled.text
    assert "HTTP 500" in client.get("/admin/sources").text  # the list shows the last poll's result
    missing = client.post("/admin/sources/999/poll", data={"csrf_token": token})
    assert missing.status_code == 200 and "no source 999" in missing.text


def test_poll_needs_the_csrf_token(client: TestClient, services: Services) -> None:
    source = add_source(services.sessions, "https://example.org/feed.xml")
    log_in(client, "/admin/sources")
    response = client.post(f"/admin/sources/{source.id}/poll", data={"csrf_token": "wrong"})
    assert response.status_code == 403
    assert list_sources(services.sessions)[0].last_polled_at is None


@pytest.mark.parametrize(("location", "refused"), [
    ("http://127.0.0.1:{port}/feed.xml", "refused: 127.0.0.1 is not a public internet address"),
    ("http://localhost:{port}/feed.xml", "refused: localhost is not a public internet address"),
    ("http://169.254.169.254/latest/meta-data/", "refused: 169.254.169.254 is not a public internet address"),
    ("http://[::ffff:127.0.0.1]:{port}/feed.xml", "refused: ::ffff:127.0.0.1 is not a public internet address"),
])  # fmt: skip
def test_a_feed_on_a_private_address_is_refused_and_nothing_fetched(
    client: TestClient, services: Services, httpserver: HTTPServer, location: str, refused: str
) -> None:
    httpserver.expect_request("/feed.xml").respond_with_data(rss(rss_item("x-1", "Inside")), content_type=RSS)
    log_in(client, "/admin/sources")
    token = csrf(client, "/admin/sources")
    answer = client.post("/admin/sources", data={"location": location.format(port=httpserver.port),
                                                 "csrf_token": token})
    assert answer.status_code == 200 and flash(answer).startswith("Not added: ")
    assert refused in flash(answer) and "NEWSLETTER_SOURCES_ALLOW_PRIVATE=1" in flash(answer)
    assert list_sources(services.sessions) == [] and httpserver.log == []


@pytest.mark.parametrize("location", ["/root", "/", "/etc/passwd", "file:///etc/passwd", "~/.ssh"])
def test_folders_and_files_are_refused_from_the_admin(
    client: TestClient, services: Services, location: str
) -> None:
    log_in(client, "/admin/sources")
    answer = client.post("/admin/sources", data={"location": location, "csrf_token": csrf(client, "/admin/sources")})
    assert flash(answer) == (
        f"Not added: {location}: only http:// or https:// feed URLs can be added here; folders on the server "
        "are added from its command line (newsletter sources add PATH)"
    )
    assert list_sources(services.sessions) == []


@pytest.fixture
def live(settings: Settings) -> Iterator[tuple[str, Services]]:
    """The app under uvicorn on loopback (allowing private feeds), so an answer can arrive before its
    background poll ends; TestClient would wait for the background task first."""
    services = Services.build(settings.model_copy(update={"sources_allow_private": True}))
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(create_app(services), log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + WAIT
    while not server.started:  # a bound on start-up, not an assertion about time
        assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}", services
    finally:
        server.should_exit = True
        thread.join(timeout=WAIT)
        sock.close()
        services.close()


def test_add_and_poll_answer_while_the_feed_server_is_still_blocked(
    live: tuple[str, Services], httpserver: HTTPServer
) -> None:
    url, services = live
    arrived, release = threading.Event(), threading.Event()

    def held(request: Request) -> Response:
        arrived.set()
        release.wait(WAIT)
        return Response(rss(rss_item("b-1", "Held back")), content_type=RSS)

    httpserver.expect_request("/feed").respond_with_handler(held)
    feed = f"http://127.0.0.1:{httpserver.port}/feed"
    try:
        with httpx.Client(base_url=url, timeout=WAIT) as web:
            assert web.post("/admin/login", data={"password": PASSWORD, "next": "/admin/sources"}).status_code == 303
            token = re.search(r'name="csrf_token" value="([^"]+)"', web.get("/admin/sources").text)
            assert token
            added = web.post("/admin/sources", data={"location": feed, "csrf_token": token.group(1)})
            assert added.status_code == 303 and not release.is_set()  # answered; the feed server holds on
            assert arrived.wait(WAIT), "the first poll never started"
            (source,) = list_sources(services.sessions)
            assert source.last_polled_at is None  # the poll is still waiting for the feed

            polled = web.post(f"/admin/sources/{source.id}/poll", data={"csrf_token": token.group(1)})
            assert polled.status_code == 303 and not release.is_set()
            assert "started" in flash(web.get("/admin/sources"))
    finally:
        release.set()
    deadline = time.monotonic() + WAIT
    while list_sources(services.sessions)[0].last_polled_at is None and time.monotonic() < deadline:
        time.sleep(0.02)  # the background polls finish once the feed server lets go
    (done,) = list_sources(services.sessions)
    assert done.article_count == 1 and done.last_polled_at is not None and done.last_error is None
