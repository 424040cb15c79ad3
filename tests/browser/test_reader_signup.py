"""A real browser against the real server: sign up, confirm from the emailed link, small screens."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Browser, expect
from sqlalchemy import select

from newsletter.issues.compose import compose
from newsletter.content.models import Article
from newsletter.db.base import utcnow
from newsletter.readers.models import Subscriber, SubscriberStatus
from tests.axe import assert_accessible
from tests.browser import LiveSite, confirm_link
from tests.browser import browser as browser  # noqa: F401  (fixtures)
from tests.browser import site as site  # noqa: F401

pytestmark = pytest.mark.browser


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
def test_no_sideways_scrolling_at_320px_and_no_serious_axe_violations(site: LiveSite, browser: Browser, path: str) -> None:
    page = browser.new_page(viewport={"width": 320, "height": 640})
    response = page.goto(f"{site.url}{path}")
    assert response is not None and response.ok
    assert page.evaluate("document.documentElement.scrollWidth") <= 320
    assert_accessible(page)


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
