"""The dashboard in headless chromium at 320 px: every chart's picture loads, the tables open,
axe-core finds nothing serious, nothing is written to the console, nothing scrolls sideways."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, expect

from tests.axe import assert_accessible
from tests.browser import LiveSite, browser_log_in, scroll_width
from tests.browser import browser as browser, site as site  # noqa: F401  (fixtures)
from tests.issues.test_dashboard import seed

pytestmark = pytest.mark.browser


def test_the_dashboard_draws_its_charts_at_320_px(browser: Browser, site: LiveSite) -> None:
    seed(site.services.sessions)
    page = browser.new_page(viewport={"width": 320, "height": 720})
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type in ("error", "warning") else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    browser_log_in(page, site, "/admin/dashboard")
    charts = page.locator("figure.chart img")
    expect(charts).to_have_count(4)
    for i in range(4):
        chart = charts.nth(i)
        chart.scroll_into_view_if_needed()  # loading="lazy"
        page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=chart.element_handle())
        box = chart.bounding_box()
        assert box is not None and 0 < box["width"] <= 320 and box["height"] > 0
    expect(page.get_by_role("figure", name="Readers per week")).to_be_visible()
    for summary in page.get_by_text("Figures as a table").all():
        summary.click()
    expect(page.get_by_role("cell", name="https://example.org/b")).to_be_visible()
    assert_accessible(page)
    assert scroll_width(page) <= 320
    assert not problems, problems
