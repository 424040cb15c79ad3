"""The admin pages added with several lists, audiences and webhooks, in headless chromium: axe-core
finds nothing serious and nothing scrolls sideways at 320 px, with a second list, a segment and a
webhook whose log has a failed attempt (the fullest version of each page)."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, expect

from newsletter.lists.catalog import create_list
from newsletter.webhooks.deliver import Answer, deliver_due
from newsletter.webhooks.endpoints import create_endpoint
from tests.axe import assert_accessible
from tests.browser import LiveSite, browser_log_in, scroll_width
from tests.browser import browser as browser, site as site  # noqa: F401  (fixtures)

pytestmark = pytest.mark.browser

PAGES = {  # path -> its heading
    "/admin/lists": "Lists",
    "/admin/segments": "Segments",
    "/admin/webhooks": "Webhooks",
    "/admin/webhooks/{hook}": "hooks.example.com",
    "/admin/design?list=tech-notes": "Design of Tech Notes",
    "/admin/design/template?list=tech-notes": "Issue template of Tech Notes",
    "/admin/schedule?list=tech-notes": "Weekly schedule of Tech Notes",
}


def seed(site: LiveSite) -> int:
    """A second list, a segment, and a webhook with one failed delivery in its log; the webhook's id."""
    services = site.services
    create_list(services.sessions, "Tech Notes with a rather long name for a small screen", slug="tech-notes")
    services.audience.create_segment("Readers with a rather long segment name", "tech-notes",
                                     {"tags": [{"match": "any", "tags": ["vip", "press"]}]})
    hook = create_endpoint(services.sessions, "https://hooks.example.com/a/rather/long/path/for/the/endpoint",
                           ["subscribed", "bounced"], allow_private=False)
    services.subscriptions.subscribe("ann@example.net")  # an event for the webhook's log
    deliver_due(services.sessions, allow_private=False,
                poster=lambda due, policy: Answer(500, "HTTP 500 Internal Server Error", 12))
    return hook.id


@pytest.mark.parametrize("path", list(PAGES))
def test_the_page_is_accessible_and_fits_320_px(browser: Browser, site: LiveSite, path: str) -> None:
    target = path.format(hook=seed(site))
    page = browser.new_page(viewport={"width": 320, "height": 720})
    browser_log_in(page, site, target)
    expect(page.get_by_role("heading", level=1)).to_contain_text(
        PAGES[path].replace("Tech Notes", "Tech Notes with a rather long name for a small screen"))
    assert_accessible(page)
    assert scroll_width(page) <= 320


def test_another_lists_design_page_previews_and_saves_that_list(browser: Browser, site: LiveSite) -> None:
    from newsletter.issues.list_profile import load_profile, save_profile
    from newsletter.lists.catalog import profile_for

    tech = create_list(site.services.sessions, "Tech Notes")
    save_profile(site.services.sessions, site.settings, footer_text="The first list's footer")
    page = browser.new_page()
    browser_log_in(page, site, "/admin/issues")
    page.goto(f"{site.url}/admin/design")
    page.get_by_label("List", exact=True).select_option("tech-notes")
    page.get_by_role("button", name="Show its design").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Design of Tech Notes")
    page.wait_for_load_state("load")
    frame = page.frame_locator("#design-preview")
    expect(frame.get_by_text("The first list's footer")).to_be_visible()  # B follows A until changed
    page.get_by_label("Footer text").fill("Tech Notes, Bristol")
    expect(frame.get_by_text("Tech Notes, Bristol")).to_be_visible()  # the live preview, of B
    expect(frame.get_by_text("Tech Notes", exact=True).first).to_be_visible()  # B's name in the masthead
    page.get_by_role("button", name="Save design").click()
    expect(page.get_by_role("status")).to_contain_text("Design saved for Tech Notes")
    assert profile_for(site.services.sessions, site.settings, tech.id).footer_text == "Tech Notes, Bristol"
    assert load_profile(site.services.sessions, site.settings).footer_text == "The first list's footer"
    assert_accessible(page)
