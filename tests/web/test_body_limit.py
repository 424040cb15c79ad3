"""Request bodies over the cap are refused before anything reads them whole: 413 at once for a
declared Content-Length, and after at most the cap for a body streamed without one.

The API's cap (2 MB) still takes its biggest valid request: an article of 100,000 characters
that JSON writes as escaped surrogate pairs.
"""

from __future__ import annotations

import asyncio
import json
import socket
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from starlette.types import Message

from newsletter.services import Services
from newsletter.web import create_app
from newsletter.web.body_limit import API_MAX_BODY, DEFAULT_MAX_BODY, MB
from tests.web.test_trusted_proxies import served

THIRTY_MB = 30 * MB
TOO_BIG = {"error": "The request body is larger than 2 MB.", "status": 413}


@pytest.fixture
def token(services: Services) -> str:
    return services.api_tokens.create("tests").token


def test_a_declared_30_mb_api_body_is_refused_before_a_byte_is_sent(tmp_path: Path) -> None:
    with served(tmp_path) as (port, _log), socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        # Only the head: the server answers without waiting for the 30 MB it was promised.
        sock.sendall(
            b"POST /api/v1/subscribers HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n" % THIRTY_MB
        )
        answer = b""
        while b"\r\n\r\n" not in answer or not answer.endswith(b"}"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413 ")
    assert json.loads(body) == TOO_BIG


def test_a_30_mb_api_body_streamed_without_a_length_is_refused_at_the_cap(services: Services) -> None:
    """Through the whole app (ASGI), counting what the app pulls of a chunked 30 MB body."""
    app = create_app(services)
    pulled = 0
    sent: list[Message] = []

    async def receive() -> Message:
        nonlocal pulled
        if pulled >= THIRTY_MB:
            return {"type": "http.disconnect"}
        pulled += MB
        return {"type": "http.request", "body": b" " * MB, "more_body": pulled < THIRTY_MB}

    async def send(message: Message) -> None:
        sent.append(message)

    scope: dict[str, Any] = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
        "path": "/api/v1/subscribers", "raw_path": b"/api/v1/subscribers", "query_string": b"", "root_path": "",
        "headers": [(b"host", b"newsletter.test"), (b"content-type", b"application/json"),
                    (b"transfer-encoding", b"chunked")],
        "client": ("203.0.113.5", 50000), "server": ("newsletter.test", 80),
    }
    asyncio.run(app(scope, receive, send))
    assert sent[0]["status"] == 413
    assert json.loads(b"".join(m.get("body", b"") for m in sent[1:])) == TOO_BIG
    assert pulled <= API_MAX_BODY + MB  # the cap and the chunk that passed it, not 30 MB


def test_the_biggest_valid_article_fits_under_the_api_cap(client: TestClient, token: str) -> None:
    article = {"title": "Long", "body_markdown": "\U0001f600" * 100_000, "standfirst": "\U0001f600" * 2000}
    body = json.dumps(article).encode()  # ensure_ascii: 12 bytes a character
    assert len(body) > MB
    created = client.post("/api/v1/articles", content=body, headers={
        "Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    assert created.status_code == 201, created.text


def test_an_api_body_over_the_cap_is_413_in_the_apis_shape_before_authentication(client: TestClient) -> None:
    refused = client.post("/api/v1/articles", content=b"x" * (API_MAX_BODY + 1),
                          headers={"Content-Type": "application/json"})
    assert refused.status_code == 413 and refused.json() == TOO_BIG
    assert refused.headers["cache-control"] == "no-store"


def test_public_and_admin_forms_have_a_cap_and_imports_keep_their_own(client: TestClient) -> None:
    huge = b"email=" + b"a" * DEFAULT_MAX_BODY
    refused = client.post("/subscribe", content=huge, headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert refused.status_code == 413 and "larger than 8 MB" in refused.text
    refused = client.post("/admin/login", content=huge,
                          headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert refused.status_code == 413
    # The CSV import streams to disk under its own 200 MB limit: not capped here.
    not_capped = client.post("/admin/import", content=huge, headers={"Content-Type": "multipart/form-data; boundary=x"},
                             follow_redirects=False)
    assert not_capped.status_code != 413
