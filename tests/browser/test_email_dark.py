"""A real issue email in chromium, light and dark (`prefers-color-scheme`), at 600 and 375 px: no
sideways scroll, a designed dark version, and the admin's dark preview showing that version.
Saves email-{light,dark}-{600,375}.png (for the README: see SCREENSHOTS_ENV)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

import pytest
from playwright.sync_api import Browser, ConsoleMessage, expect

from newsletter.issues.compose import compose
from newsletter.issues.editor import update_issue
from newsletter.issues.list_profile import save_profile
from tests.axe import assert_accessible
from tests.browser import LiveSite, browser_log_in, scroll_width
from tests.browser import browser as browser, site as site  # noqa: F401  (fixtures)
from tests.clock import mid_week
from tests.factories import add_article

pytestmark = pytest.mark.browser

# The README's screenshots are refreshed on request only, so a test run leaves the tree clean:
# NEWSLETTER_TEST_SCREENSHOTS=docs/screenshots pytest -n 0 tests/browser/test_email_dark.py
SCREENSHOTS_ENV = "NEWSLETTER_TEST_SCREENSHOTS"
NOW = mid_week()
BACKGROUND = """() => [document.body, document.querySelector('.email-bg'), document.querySelector('.card')]
  .map(e => getComputedStyle(e).backgroundColor)"""


def an_issue(site: LiveSite) -> int:
    add_article(site.services.sessions, "Rivers of the North", NOW, author="A. Writer",
                standfirst="What the spring floods leave behind",
                paragraphs=["The water came up in a night and went down in a month.",
                            "What it left is a new map of the valley, drawn in silt."],
                pull_quotes=["A new map of the valley, drawn in silt."])
    add_article(site.services.sessions, "Letters", NOW, paragraphs=["Readers wrote about last week's bridges."])
    issue_id = compose(site.services.sessions, site.settings, now=NOW).issue_id
    update_issue(site.services.sessions, site.settings, issue_id, subject="Floods and letters",
                 editor_note="Hello friends,\n\nA wet week: two pieces on what the water did.")
    save_profile(site.services.sessions, site.settings, postal_address="1 High Street, Bristol BS1 1AA")
    return issue_id


def test_the_email_has_a_dark_version_and_fits_a_phone(browser: Browser, site: LiveSite, tmp_path: Path) -> None:
    html = site.services.publisher.preview_html(an_issue(site))
    shots = Path(os.environ.get(SCREENSHOTS_ENV) or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    backgrounds: dict[str, list[str]] = {}
    scheme: Literal["light", "dark"]
    for scheme in ("light", "dark"):
        for width in (600, 375):
            page = browser.new_page(viewport={"width": width, "height": 900}, color_scheme=scheme)
            errors: list[str] = []
            page.on("console", lambda m, e=errors: e.append(m.text) if m.type == "error" else None)  # type: ignore[misc]
            page.set_content(html)
            assert scroll_width(page) <= width, f"{scheme} at {width} px scrolls sideways"
            backgrounds[scheme] = page.evaluate(BACKGROUND)
            page.screenshot(path=str(shots / f"email-{scheme}-{width}.png"), full_page=True)
            assert not errors, errors
            if width == 375:
                assert_accessible(page)
            page.close()
    light, dark = backgrounds["light"], backgrounds["dark"]
    assert all(a != b for a, b in zip(light, dark, strict=True)), (light, dark)
    assert dark[0] == "rgb(24, 23, 21)" and dark[2] == "rgb(36, 34, 31)"  # the page and the white cards


def test_the_admins_dark_preview_is_the_emails_own_dark_version(browser: Browser, site: LiveSite) -> None:
    issue_id = an_issue(site)
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[ConsoleMessage] = []
    page.on("console", lambda m: errors.append(m) if m.type == "error" else None)  # type: ignore[func-returns-value]
    browser_log_in(page, site, f"/admin/issues/{issue_id}/preview")
    frame = page.frame_locator("iframe.dark")
    expect(frame.get_by_text("Rivers of the North").first).to_be_visible()
    card = frame.locator(".card").first.evaluate("e => getComputedStyle(e).backgroundColor")
    assert card == "rgb(36, 34, 31)"
    filters = frame.locator("html").evaluate("e => getComputedStyle(e).filter")
    assert filters == "none"  # the email's own dark rules, not an inversion
    light = page.frame_locator("iframe:not(.dark)").first.locator(".card").first
    assert light.evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(255, 255, 255)"
    assert_accessible(page)
    assert not [m.text for m in errors], [m.text for m in errors]
