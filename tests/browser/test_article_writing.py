"""The article writing desk in headless chromium: a link from the toolbar, the live preview as the
writer types, autosave and its saved indicator, restoring an earlier revision; axe-core finds
nothing serious, nothing reaches the console, nothing scrolls sideways at 320 px."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, Page, expect

from newsletter.content import revisions
from newsletter.content.articles import ArticleInput, get_article
from tests.axe import assert_accessible
from tests.browser import LiveSite, browser_log_in, scroll_width
from tests.browser import browser as browser, site as site  # noqa: F401  (fixtures)

pytestmark = pytest.mark.browser

FIRST = "The first draft of the piece."


def watch_console(page: Page) -> list[str]:
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type in ("error", "warning") else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    return problems


def test_write_with_a_link_preview_autosave_and_restore(browser: Browser, site: LiveSite) -> None:
    article_id = revisions.create(site.services.sessions, ArticleInput(title="Desk test", body_markdown=FIRST),
                                  "owner@example.org")
    page = browser.new_page(viewport={"width": 1300, "height": 900})
    problems = watch_console(page)
    browser_log_in(page, site, f"/admin/articles/{article_id}")
    body = page.get_by_label("Body")
    expect(page.frame_locator("#article-preview").get_by_text(FIRST)).to_be_visible()

    # A link from the toolbar: select words, press Link, type the address over the selected https://.
    body.fill(FIRST + "\n\nSee the report today.")
    body.evaluate("(e) => { const at = e.value.indexOf('the report'); e.setSelectionRange(at, at + 10); }")
    page.get_by_role("toolbar", name="Formatting").get_by_role("button", name="Link").click()
    page.keyboard.type("https://example.org/report")
    expect(body).to_have_value(FIRST + "\n\nSee [the report](https://example.org/report) today.")

    # The live preview shows it before anything is saved; autosave then saves it and says so.
    preview = page.frame_locator("#article-preview")
    expect(preview.get_by_role("link", name="the report")).to_have_attribute("href", "https://example.org/report")
    expect(page.locator("#save-status")).to_contain_text("Saved at")
    assert get_article(site.services.sessions, article_id).paragraphs[-1].startswith("See")
    expect(page.locator("#revisions li")).to_have_count(2)
    assert_accessible(page)

    # Restore the first draft: it is back in the form and kept as a new revision.
    page.locator("#revisions li a").last.click()
    expect(page.locator("#revision-body")).to_have_text(FIRST)
    assert_accessible(page)
    page.get_by_role("button", name="Restore this revision").click()
    expect(page.get_by_role("status").filter(has_text="Restored the revision")).to_be_visible()
    expect(page.get_by_label("Body")).to_have_value(FIRST)
    expect(page.locator("#revisions li")).to_have_count(3)
    assert get_article(site.services.sessions, article_id).paragraphs == [FIRST]
    assert problems == []


def test_the_desk_fits_320_px(browser: Browser, site: LiveSite) -> None:
    article_id = revisions.create(site.services.sessions, ArticleInput(title="Narrow", body_markdown=FIRST),
                                  "owner@example.org")
    page = browser.new_page(viewport={"width": 320, "height": 700})
    problems = watch_console(page)
    browser_log_in(page, site, f"/admin/articles/{article_id}")
    expect(page.get_by_role("toolbar", name="Formatting")).to_be_visible()
    assert scroll_width(page) <= 320
    # The Image button opens the media picker's file chooser (media.js uploads and inserts the image).
    with page.expect_file_chooser() as chooser:
        page.get_by_role("button", name="Image", exact=True).click()
    assert not chooser.value.is_multiple()
    assert_accessible(page)
    page.goto(f"{site.url}/admin/articles/new")
    assert scroll_width(page) <= 320
    assert_accessible(page)
    assert problems == []
