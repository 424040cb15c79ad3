"""Shared browser-test parts: the app under uvicorn on loopback, Debian's chromium through
Playwright (never a downloaded browser), logging in, and axe-core (tests/axe.py).

Use from a test module:
    from tests.browser import LiveSite, browser_log_in
    from tests.browser import browser as browser, site as site  # noqa: F401  (fixtures)
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import re
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import uvicorn
from playwright.sync_api import Browser, Page, expect, sync_playwright

from newsletter.config import Settings, load_settings
from newsletter.services import Services
from newsletter.web import create_app

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ADMIN_PASSWORD = "browser-test-password"
# How long expect() waits for the page to get there (Playwright's default is 5 s): the suite runs
# on two busy cores beside real worker processes, and a live preview renders MJML on the server.
# A wait bound, not a timed assertion: a passing expect() returns as soon as the page is right.
expect.set_options(timeout=15_000)


@dataclass
class LiveSite:
    url: str
    settings: Settings
    services: Services


@pytest.fixture
def site(tmp_path: Path, sqlite_template: Path) -> Iterator[LiveSite]:
    """The app under uvicorn on a loopback port, SQLite only, writing mail to the outbox folder."""
    # A copy of the session's migrated database: migrating a new file takes ~0.3 s a test.
    shutil.copyfile(sqlite_template, tmp_path / "browser.db")
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))  # bound before uvicorn starts, so no other process can take the port
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    settings = load_settings(
        data_dir=tmp_path / "var",
        database_url=f"sqlite:///{tmp_path / 'browser.db'}",
        base_url=url,  # the emailed links must point at this server
        from_address="The Test Briefing <briefing@example.org>",
        list_name="The Test Briefing",
        secret_key="browser-test-secret",
        admin_password=ADMIN_PASSWORD,
    ).model_copy(update={"backend": "outbox"})
    services = Services.build(settings, run_migrations=False)
    server = uvicorn.Server(uvicorn.Config(create_app(services), log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    try:
        yield LiveSite(url, settings, services)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
        services.close()


class Chromium:
    """One Playwright driver and one chromium per test process, shared by its browser tests
    (starting them costs ~2 s). Playwright's sync API leaves its event loop marked as running in
    this thread, which would stop any other test's ``asyncio.run``: it is parked (unmarked)
    between browser tests and restored for each."""

    def __init__(self) -> None:
        self._playwright = sync_playwright().start()
        self.browser = self._playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        self._loop = asyncio._get_running_loop()
        asyncio._set_running_loop(None)

    def __enter__(self) -> Browser:
        asyncio._set_running_loop(self._loop)
        if not self.browser.is_connected():  # chromium died in an earlier test: not this one's fault
            self.browser = self._playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        return self.browser

    def __exit__(self, *exc: object) -> None:
        try:
            for context in self.browser.contexts:  # every page a test opened, with its cookies
                context.close()
        finally:
            asyncio._set_running_loop(None)

    def stop(self) -> None:
        asyncio._set_running_loop(self._loop)
        try:
            self.browser.close()
            self._playwright.stop()
        finally:
            asyncio._set_running_loop(None)


_shared: list[Chromium] = []  # this process's, started by the first browser test


@pytest.fixture
def browser(request: pytest.FixtureRequest) -> Iterator[Browser]:
    """The process's chromium (started once, stopped when pytest ends); what the test opened is
    closed after it. A plain fixture, so importing it is all a test module needs."""
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed at /usr/bin/chromium")
    if not _shared:
        _shared.append(Chromium())
        request.config.add_cleanup(_shared[0].stop)
    with _shared[0] as browser:
        yield browser


def browser_log_in(page: Page, site: LiveSite, next_path: str = "/admin/issues") -> None:
    """Log in as the built-in admin through the login form, landing on `next_path`."""
    page.goto(f"{site.url}/admin/login?next={next_path}")
    page.get_by_label("Password").fill(ADMIN_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(f"{site.url}{next_path}")
    # The URL changes when the navigation commits, before the page's scripts have run: a test that
    # types at once could beat the listeners of editor.js/design.js (a flaky live preview).
    page.wait_for_load_state("load")


def outbox_messages(outbox: Path) -> list[email.message.EmailMessage]:
    """Every message the outbox backend wrote, oldest first."""
    return [
        email.message_from_bytes(path.read_bytes(), policy=email.policy.default)  # type: ignore[misc]
        for path in sorted(outbox.glob("*.eml"), key=lambda p: p.stat().st_mtime_ns)
    ]


def confirm_link(outbox: Path, to: str) -> str:
    """The confirmation link in the (only) message to `to` in the outbox; the public forms mail
    after their page has answered, so it may take a moment to appear."""
    for _ in range(200):
        found = [m for m in outbox_messages(outbox) if to in str(m["To"])]
        if found:
            break
        time.sleep(0.05)
    [message] = found
    text = message.get_body(preferencelist=("plain",))
    assert text is not None
    match = re.search(r"https?://\S+/confirm/\S+", text.get_content())
    assert match, "no confirm link in the confirmation email"
    return match.group(0)


def scroll_width(page: Page) -> int:
    return int(page.evaluate("document.documentElement.scrollWidth"))
