"""The design pages in headless chromium: the live preview (with and without JavaScript), a
broken template's line in the message, axe-core, and 320 px screens."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, Page, expect

from newsletter.config import Settings
from newsletter.issues.list_profile import load_profile
from tests.axe import assert_accessible
from tests.browser import LiveSite, browser_log_in, scroll_width
from tests.browser import browser as browser, site as site  # noqa: F401  (fixtures)

pytestmark = pytest.mark.browser

SHIPPED = (Settings().templates_dir / "email" / "issue.mjml.j2").read_text()


def upload(page: Page, source: str) -> None:
    page.set_input_files("#template_file", files=[
        {"name": "issue.mjml", "mimeType": "text/plain", "buffer": source.encode()}
    ])
    page.get_by_role("button", name="Check this template").click()


def test_the_preview_follows_the_accent_colour_and_footer(browser: Browser, site: LiveSite) -> None:
    page = browser.new_page()
    browser_log_in(page, site, "/admin/design")
    page.get_by_label("Accent colour (links").fill("#aa3300")
    page.get_by_label("Footer text").fill("Printed in Bristol")
    frame = page.frame_locator("#design-preview")
    expect(frame.get_by_text("Printed in Bristol")).to_be_visible()
    link = frame.get_by_role("link", name="A sample article").first
    expect(link).to_be_visible()
    colour = frame.locator(".pull-quote").first.evaluate("e => getComputedStyle(e).color")
    assert colour == "rgb(170, 51, 0)"
    # Nothing is saved until the editor says so.
    assert load_profile(site.services.sessions, site.settings).footer_text == ""
    page.get_by_role("button", name="Save design").click()
    expect(page.get_by_role("status")).to_contain_text("Design saved")
    assert load_profile(site.services.sessions, site.settings).accent_color == "#aa3300"


def test_the_preview_button_works_without_javascript(browser: Browser, site: LiveSite) -> None:
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    browser_log_in(page, site, "/admin/design")
    page.get_by_label("Footer text").fill("No script needed")
    page.get_by_role("button", name="Preview").click()
    expect(page.get_by_text("not saved yet")).to_be_visible()
    expect(page.frame_locator("#design-preview").get_by_text("No script needed")).to_be_visible()
    context.close()


def test_a_broken_template_shows_its_line(browser: Browser, site: LiveSite) -> None:
    page = browser.new_page()
    browser_log_in(page, site, "/admin/design/template")
    upload(page, SHIPPED.replace("{% endfor %}", "{% endfr %}", 1))
    message = page.locator("#template_file-error")
    expect(message).to_contain_text("line 25: ")
    expect(page.get_by_label("Template file")).to_have_attribute("aria-invalid", "true")

    upload(page, SHIPPED.replace("{% include \"email/_header.mjml.j2\" %}",
                                 "<mj-section><mj-column><mj-text>MY MASTHEAD</mj-text></mj-column></mj-section>"))
    expect(page.frame_locator("iframe").get_by_text("MY MASTHEAD")).to_be_visible()
    page.get_by_role("button", name="Use this template").click()
    expect(page.get_by_role("status")).to_contain_text("in use")


@pytest.mark.parametrize("path", ["/admin/settings", "/admin/design", "/admin/design/template"])
def test_pages_are_accessible_and_fit_320_px(browser: Browser, site: LiveSite, path: str) -> None:
    page = browser.new_page(viewport={"width": 320, "height": 720})
    browser_log_in(page, site, path)
    if path.endswith("template"):  # with an uploaded template waiting, the fullest version of the page
        upload(page, SHIPPED)
        expect(page.get_by_role("button", name="Use this template")).to_be_visible()
    assert_accessible(page)
    assert scroll_width(page) <= 320
    if path == "/admin/settings":  # and with messages beside the fields
        page.get_by_label("From address").fill("nobody")
        page.get_by_role("button", name="Save settings").click()
        expect(page.locator("#from_address-error")).to_be_visible()
        assert_accessible(page)
        assert scroll_width(page) <= 320
