"""A real browser against the real server: sign up, confirm from the emailed link, small screens."""

from __future__ import annotations

import email
import email.policy
import re
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import uvicorn
from playwright.sync_api import Browser, expect, sync_playwright
from sqlalchemy import select

from newsletter.compose import compose
from newsletter.config import Settings, load_settings
from newsletter.models import Article, Subscriber, SubscriberStatus, utcnow
from newsletter.services import Services
from newsletter.web import create_app

pytestmark = pytest.mark.browser

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


@dataclass
class LiveSite:
    url: str
    settings: Settings
    services: Services


@pytest.fixture
def site(tmp_path: Path) -> Iterator[LiveSite]:
    """The app under uvicorn on a loopback port, SQLite only, writing mail to the outbox folder."""
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
        admin_password="browser-test-password",
    ).model_copy(update={"backend": "outbox"})
    services = Services.build(settings)
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


@pytest.fixture
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed at /usr/bin/chromium")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def confirm_link(outbox: Path, to: str) -> str:
    [path] = sorted(outbox.glob("*.eml"))
    message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    assert to in str(message["To"])
    text = message.get_body(preferencelist=("plain",))
    assert text is not None
    match = re.search(r"https?://\S+/confirm/\S+", text.get_content())
    assert match, "no confirm link in the confirmation email"
    return match.group(0)


def test_subscribe_and_confirm_in_a_browser(site: LiveSite, browser: Browser) -> None:
    page = browser.new_page()
    page.goto(f"{site.url}/")
    expect(page).to_have_url(f"{site.url}/subscribe")
    page.get_by_label("Email").fill("reader@example.org")
    page.get_by_role("button", name="Subscribe").click()
    expect(page.get_by_role("heading", name="Check your inbox")).to_be_visible()

    link = confirm_link(site.settings.outbox_path, "reader@example.org")
    assert link.startswith(site.url)
    page.goto(link)
    expect(page.get_by_role("heading", name="You're subscribed")).to_be_visible()

    with site.services.sessions() as session:
        subscriber = session.scalar(select(Subscriber).where(Subscriber.email == "reader@example.org"))
    assert subscriber is not None and subscriber.status is SubscriberStatus.ACTIVE


def test_bad_address_message_in_a_browser(site: LiveSite, browser: Browser) -> None:
    page = browser.new_page(viewport={"width": 320, "height": 640})
    page.goto(f"{site.url}/subscribe")
    page.get_by_label("Email").fill("a@b")  # passes the browser's own check, not ours
    page.get_by_role("button", name="Subscribe").click()
    expect(page.get_by_role("alert")).to_contain_text("Please check the address")
    expect(page.get_by_label("Email")).to_have_value("a@b")
    assert page.evaluate("document.documentElement.scrollWidth") <= 320


@pytest.mark.parametrize("path", ["/subscribe", "/unsubscribe", "/archive", "/admin/login"])
def test_no_sideways_scrolling_at_320px(site: LiveSite, browser: Browser, path: str) -> None:
    page = browser.new_page(viewport={"width": 320, "height": 640})
    response = page.goto(f"{site.url}{path}")
    assert response is not None and response.ok
    assert page.evaluate("document.documentElement.scrollWidth") <= 320


def test_editor_logs_in_and_previews_an_issue(site: LiveSite, browser: Browser) -> None:
    now = utcnow()
    with site.services.sessions.begin() as session:
        session.add(
            Article(
                uid="browser-1",
                title="A headline for the browser",
                published_at=now,
                paragraphs=["Some words."],
                pull_quotes=[],
                content_hash="browser-1",
            )
        )
    issue_id = compose(site.services.sessions, site.settings, now=now).issue_id

    page = browser.new_page(viewport={"width": 320, "height": 640})
    page.goto(f"{site.url}/admin/issues/{issue_id}/preview")
    expect(page).to_have_url(re.compile(r"/admin/login\?next="))
    page.get_by_label("Password").fill("browser-test-password")
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(f"{site.url}/admin/issues/{issue_id}/preview")

    # Both frames load the rendered issue (same origin, allowed by the CSP, with the session cookie).
    for n in range(2):
        frame = page.frame_locator("iframe").nth(n)
        expect(frame.get_by_text("A headline for the browser").first).to_be_visible()
    expect(page.locator("pre")).to_contain_text("A headline for the browser")
    assert page.evaluate("document.documentElement.scrollWidth") <= 320

    page.goto(f"{site.url}/admin/issues/{issue_id}")
    assert page.evaluate("document.documentElement.scrollWidth") <= 320
    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_url(f"{site.url}/admin/login")
