"""Whose X-Forwarded-For counts (NEWSLETTER_TRUSTED_PROXIES), and what the access log records.

With no trusted proxies the header is ignored everywhere: by the lock-outs and rate limits, and by
uvicorn (whose default would trust 127.0.0.1). With a trusted proxy the right-most address it did
not add itself is the client. The access log of the real `newsletter serve` never holds a reader's
token.
"""

from __future__ import annotations

import http.client
import ipaddress
import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlencode

import pytest
from fastapi.testclient import TestClient

from newsletter.accounts.users import MAX_FAILURES, Users
from newsletter.config import Settings
from newsletter.services import Services
from newsletter.web import create_app
from newsletter.web.client_address import resolve_client
from tests.accounts.test_users import FAST
from tests.cli.test_run import NEWSLETTER, free_port, wait_for

OWNER = ("owner@example.org", "owner password 1")
TOKEN = "c3Vic2NyaWJlcjo0Mg.ZmFrZS1zaWduYXR1cmUtZm9yLXRoZS1sb2c"  # shaped like a reader's link token


@pytest.mark.parametrize(
    ("peer", "forwarded", "trusted", "client"),
    [
        ("127.0.0.1", ["203.0.113.9"], "", "127.0.0.1"),  # nobody trusted: the header means nothing
        ("192.0.2.10", ["203.0.113.9"], "127.0.0.1", "192.0.2.10"),  # not from our proxy
        ("127.0.0.1", ["203.0.113.9"], "127.0.0.1", "203.0.113.9"),
        ("127.0.0.1", ["198.51.100.1, 203.0.113.9"], "127.0.0.1", "203.0.113.9"),  # left of it: the client's own words
        ("127.0.0.1", ["203.0.113.9, 10.1.2.3"], "127.0.0.1 10.0.0.0/8", "203.0.113.9"),  # through two proxies
        ("127.0.0.1", ["198.51.100.1", "203.0.113.9"], "127.0.0.1", "203.0.113.9"),  # repeated header lines
        ("127.0.0.1", ["nonsense, 10.1.2.3"], "127.0.0.1,10.0.0.0/8", "10.1.2.3"),
        ("127.0.0.1", ["[2001:db8::7]:4711"], "127.0.0.1", "2001:db8::7"),
        ("127.0.0.1", [], "127.0.0.1", "127.0.0.1"),
    ],
)
def test_the_client_address(peer: str, forwarded: list[str], trusted: str, client: str) -> None:
    proxies = [ipaddress.ip_network(item, strict=False) for item in trusted.replace(",", " ").split()]
    assert resolve_client(peer, forwarded, proxies) == client


@pytest.fixture
def behind_proxy(settings: Settings) -> Iterator[TestClient]:
    """The app with 127.0.0.1 as its trusted proxy, reached from 127.0.0.1."""
    services = Services.build(settings.model_copy(update={"trusted_proxies": "127.0.0.1"}))
    try:
        Users(services.sessions, FAST).create(*OWNER, role="owner")
        with TestClient(create_app(services), client=("127.0.0.1", 50000)) as client:
            yield client
    finally:
        services.close()


def login_status(client: TestClient, password: str, forwarded_for: str) -> int:
    response = client.post("/admin/login", data={"email": OWNER[0], "password": password},
                           headers={"X-Forwarded-For": forwarded_for}, follow_redirects=False)
    client.cookies.clear()
    return response.status_code


def test_behind_a_trusted_proxy_the_forwarded_address_is_locked_out_not_the_proxy(behind_proxy: TestClient) -> None:
    for n in range(MAX_FAILURES):
        assert login_status(behind_proxy, f"a guess {n}", "203.0.113.5") == 401
    assert login_status(behind_proxy, OWNER[1], "203.0.113.5") == 401
    # A forged entry left of the proxy's own does not get the guesser out of its lock-out...
    assert login_status(behind_proxy, OWNER[1], "198.51.100.7, 203.0.113.5") == 401
    # ...and the owner, through the same proxy, logs in.
    assert login_status(behind_proxy, OWNER[1], "198.51.100.7") == 303


def test_without_trusted_proxies_a_rotated_header_does_not_evade_the_lock_out(client: TestClient,
                                                                             services: Services) -> None:
    Users(services.sessions, FAST).create(*OWNER, role="owner")
    for n in range(MAX_FAILURES):
        assert login_status(client, f"a guess {n}", f"203.0.113.{n + 1}") == 401
    assert login_status(client, OWNER[1], "198.51.100.7") == 401


# -- the real `newsletter serve`


@contextmanager
def served(tmp_path: Path, **env: str) -> Iterator[tuple[int, Path]]:
    """`newsletter serve` on a free loopback port; its output (uvicorn's access log) in a file."""
    port = free_port()
    environ = {k: v for k, v in os.environ.items() if not k.startswith("NEWSLETTER_")}
    environ.update(
        NEWSLETTER_DATA_DIR=str(tmp_path / "var"),
        NEWSLETTER_FROM_ADDRESS="The Briefing <briefing@example.org>",
        NEWSLETTER_BACKEND="outbox",
        PYTHONUNBUFFERED="1",  # each log line in the file as it is written
        **env,
    )
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        process = subprocess.Popen([NEWSLETTER, "serve", "--port", str(port)], cwd=tmp_path, env=environ,
                                   stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: request(port, "GET", "/subscribe")[0] == 200 or process.poll() is not None, 60, "the web app")
        assert process.poll() is None, log.read_text()
        yield port, log
    finally:
        process.terminate()
        process.wait(timeout=30)


def request(port: int, method: str, path: str, body: dict[str, str] | None = None,
            headers: dict[str, str] | None = None) -> tuple[int, str]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        data = urlencode(body).encode() if body is not None else None
        sent = {"Content-Type": "application/x-www-form-urlencoded"} if data is not None else {}
        connection.request(method, path, body=data, headers={**sent, **(headers or {})})
        response = connection.getresponse()
        return response.status, response.read().decode(errors="replace")
    except OSError:
        return 0, ""
    finally:
        connection.close()


def access_lines(log: Path, marker: str) -> list[str]:
    return [line for line in log.read_text().splitlines() if marker in line]


def test_the_served_app_ignores_x_forwarded_for_and_logs_no_reader_token(tmp_path: Path) -> None:
    with served(tmp_path) as (port, log):
        forged = {"X-Forwarded-For": "203.0.113.9"}
        assert request(port, "GET", f"/unsubscribe/{TOKEN}?page=preferences", headers=forged)[0] == 400
        request(port, "GET", f"/preferences/{TOKEN}", headers=forged)
        request(port, "GET", f"/t/o/{TOKEN}/{TOKEN}.gif", headers=forged)
        # One address guessing many accounts is slowed however it rotates the header.
        for n in range(20):
            status, _ = request(port, "POST", "/admin/login", {"email": f"guess{n}@example.org", "password": "x"},
                                {"X-Forwarded-For": f"198.51.100.{n + 1}"})
            assert status == 401
        status, page = request(port, "POST", "/admin/login", {"email": "another@example.org", "password": "x"},
                               {"X-Forwarded-For": "192.0.2.1"})
        assert status == 429 and "Too many failed logins from your network" in page
        wait_for(lambda: access_lines(log, "/t/"), 30, "the access log")
    text = log.read_text()
    assert TOKEN not in text
    [unsubscribe] = access_lines(log, "GET /unsubscribe/")
    assert '"GET /unsubscribe/<redacted> HTTP/1.1" 400' in unsubscribe
    assert unsubscribe.split(" - ")[0].split()[-1].startswith("127.0.0.1:")  # the peer, not the forged address
    assert access_lines(log, '"GET /preferences/<redacted> HTTP/1.1"') and access_lines(log, '"GET /t/<redacted> HTTP')
    assert "203.0.113.9" not in text and "198.51.100." not in text


def test_behind_a_trusted_proxy_the_access_log_names_the_client(tmp_path: Path) -> None:
    with served(tmp_path, NEWSLETTER_TRUSTED_PROXIES="127.0.0.1") as (port, log):
        request(port, "GET", "/archive", headers={"X-Forwarded-For": "198.51.100.1, 203.0.113.9"})
        wait_for(lambda: access_lines(log, "GET /archive "), 30, "the access log")
    [line] = access_lines(log, "GET /archive ")
    assert "203.0.113.9:" in line and "198.51.100.1" not in line
