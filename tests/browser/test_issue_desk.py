"""The issue desk in a real browser: articles reordered by dragging, the send asked first (naming
how many readers), its progress followed without reloading until the issue locks ("Sent to N readers
on DATE"); the weekly schedule's page; the admin's 404 with its navigation; the favicon. axe-core on
every page, nothing in the console, nothing scrolling sideways at 320 px."""

from __future__ import annotations

from datetime import timedelta

import pytest
from playwright.sync_api import Browser, Page, expect

from newsletter.delivery.dispatch import Worker
from newsletter.issues.compose import compose
from newsletter.issues.editor import load_issue
from newsletter.schedule.models import ScheduleMode
from newsletter.schedule.weekly import Schedule, load_schedule
from tests.axe import assert_accessible
from tests.browser import LiveSite, browser_log_in, scroll_width
from tests.browser import browser as browser  # noqa: F401  (fixtures)
from tests.browser import site as site  # noqa: F401
from tests.clock import mid_week
from tests.factories import add_article, add_subscribers

pytestmark = pytest.mark.browser


@pytest.fixture
def issue_id(site: LiveSite) -> int:
    now = mid_week()
    for n in range(3):
        add_article(site.services.sessions, f"Article {n}", now - timedelta(minutes=n), author="A. Writer")
    return compose(site.services.sessions, site.settings, now=now).issue_id


def watch_console(page: Page) -> list[str]:
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type in ("error", "warning") else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    return problems


def titles(site: LiveSite, issue_id: int) -> list[str]:
    return [a.title for a in load_issue(site.services.sessions, issue_id).articles]


def test_drag_then_send_after_asking_and_watch_it_go(site: LiveSite, browser: Browser, issue_id: int) -> None:
    add_subscribers(site.services.sessions, 2)
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    problems = watch_console(page)
    browser_log_in(page, site, f"/admin/issues/{issue_id}")
    expect(page.locator("#drag-hint")).to_be_visible()  # only said where dragging works
    page.evaluate("window.notReloaded = true")

    # Drag the last article above the first: saved at once, without a reload.
    items = page.locator("#article-list > li")
    items.nth(2).drag_to(items.nth(0), target_position={"x": 20, "y": 2})
    expect(page.locator("#article-list .article-title")).to_have_text(["Article 2", "Article 0", "Article 1"])
    expect(page.locator("#live-status")).to_contain_text("Articles reordered.")
    assert titles(site, issue_id) == ["Article 2", "Article 0", "Article 1"]
    assert page.evaluate("window.notReloaded === true")
    # The buttons still work after the list was swapped in.
    page.get_by_role("button", name="Down: Article 2").click()
    expect(page.locator("#article-list .article-title")).to_have_text(["Article 0", "Article 2", "Article 1"])
    assert_accessible(page)

    # One click asks; it sends nothing yet.
    page.get_by_role("link", name="Send to 2 readers…").click()
    subject = load_issue(site.services.sessions, issue_id).subject
    expect(page.locator("#send-question")).to_have_text(f"Send “{subject}” to 2 readers now?")
    assert site.services.store.counts(issue_id)["queued"] == 0
    assert_accessible(page)
    force = page.get_by_label("Send anyway", exact=False)
    if force.count():  # preflight's verdict on the layout is not what this test is about
        force.check()
    page.get_by_role("button", name="Send to 2 readers now").click()

    # The issue page follows the send by itself, then locks.
    expect(page.locator("#issue-status")).to_have_text("sending")
    expect(page.locator("#send-done")).to_have_text("0 of 2 deliveries done")
    Worker(site.services.store, site.services.backend, site.settings, site.services.links).run(drain=True)
    expect(page.locator("#sent-line")).to_contain_text("Sent to 2 readers on ")
    expect(page.locator("#issue-status")).to_have_text("sent")
    expect(page.locator("#edit-form")).to_have_count(0)
    expect(page.locator("#send-link")).to_have_count(0)
    expect(page.get_by_text("No errors: this issue can be sent.")).to_have_count(0)
    expect(page.get_by_role("button", name="Schedule")).to_have_count(0)
    assert_accessible(page)
    assert problems == []


def test_schedule_page_404_and_favicon(site: LiveSite, browser: Browser) -> None:
    page = browser.new_page(viewport={"width": 320, "height": 800})
    problems = watch_console(page)
    browser_log_in(page, site, "/admin/settings")
    page.get_by_role("link", name="the schedule page").click()
    expect(page.get_by_role("heading", name="Weekly schedule")).to_be_visible()
    assert scroll_width(page) <= 320
    assert_accessible(page)

    page.locator("#compose_day").select_option("thu")
    page.locator("#compose_time").fill("09:00")
    page.locator("#send_day").select_option("fri")
    page.locator("#send_time").fill("08:30")
    page.get_by_label("Time zone").select_option("America/New_York")
    page.get_by_label("Approve first").check()
    page.get_by_role("button", name="Save schedule").click()
    expect(page.get_by_role("status").filter(has_text="Saved: composed Thursday 09:00, sent Friday 08:30")).to_be_visible()
    saved = load_schedule(site.services.sessions, site.settings)
    assert saved == Schedule("thu", "09:00", "fri", "08:30", "America/New_York", ScheduleMode.APPROVE)
    runs = page.locator("#next-runs tbody tr")
    expect(runs).to_have_count(6)
    expect(runs.first).to_contain_text("09:00 E")  # EST or EDT, whichever the week is in
    assert scroll_width(page) <= 320
    assert_accessible(page)

    assert problems == []

    # A wrong admin address keeps the navigation; the icon is there for every page.
    response = page.goto(f"{site.url}/admin/no-such-page")
    assert response is not None and response.status == 404
    expect(page.get_by_role("heading", name="Page not found")).to_be_visible()
    expect(page.get_by_role("link", name="Schedule", exact=True)).to_be_visible()
    assert_accessible(page)
    icon = page.request.get(f"{site.url}/favicon.ico")
    assert icon.status == 200 and icon.headers["content-type"].startswith("image/svg+xml")
    assert all("404" in m for m in problems), problems  # only the page we asked to be missing
