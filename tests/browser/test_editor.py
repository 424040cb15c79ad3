"""The issue editor and the article pages in a real browser: live preview as the editor types,
reordering without a reload, the preview tabs, test sends found in the outbox, writing and hiding
articles; axe-core on every page, and no sideways scrolling at 320 px."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from playwright.sync_api import Browser, Page, expect

from newsletter.content.articles import get_article, list_articles
from newsletter.issues.compose import compose
from newsletter.issues.editor import load_issue
from tests.axe import assert_accessible
from tests.clock import mid_week
from tests.browser import LiveSite, browser_log_in, outbox_messages, scroll_width
from tests.browser import browser as browser  # noqa: F401  (fixtures)
from tests.browser import site as site  # noqa: F401
from tests.factories import add_article

pytestmark = pytest.mark.browser


@pytest.fixture
def issue_id(site: LiveSite) -> int:
    now = mid_week()  # Wednesday noon: the articles minutes before it are in its week, the spare is not
    for n in range(2):
        add_article(site.services.sessions, f"Article {n}", now - timedelta(minutes=n), author="A. Writer")
    add_article(site.services.sessions, "Spare article", now - timedelta(days=3), author="B. Writer")  # last Sunday
    return compose(site.services.sessions, site.settings, now=now).issue_id


def frame_text(page: Page, selector: str) -> str:
    # The frames are sandboxed (no scripts of their own); Playwright still reads them.
    frame = page.frame_locator(selector)
    return frame.locator("body").inner_text()


def test_edit_preview_reorder_and_test_send(site: LiveSite, browser: Browser, issue_id: int) -> None:
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    browser_log_in(page, site, f"/admin/issues/{issue_id}")
    assert_accessible(page)
    page.evaluate("window.notReloaded = true")  # gone if anything below reloads the page

    # The preview follows the form as the editor types, before anything is saved.
    page.get_by_label("Subject", exact=True).fill("Typed in the browser")
    page.get_by_label("Editor's note").fill("A note typed live")
    expect(page.locator("#live-status")).to_have_text("Preview updated (not saved yet).")
    expect(page.frame_locator("#view-600 iframe").get_by_text("A note typed live")).to_be_visible()
    assert load_issue(site.services.sessions, issue_id).editor_note == ""

    # Tabs: 375 px, dark mode (the email's own dark version), plain text.
    page.get_by_role("tab", name="375 px").click()
    expect(page.locator("#view-600")).to_be_hidden()
    expect(page.frame_locator("#view-375 iframe").get_by_text("A note typed live")).to_be_visible()
    assert page.locator("#view-375 iframe").bounding_box()["width"] == pytest.approx(375, abs=2)  # type: ignore[index]
    page.get_by_role("tab", name="Dark mode").click()
    expect(page.frame_locator("#view-dark iframe").get_by_text("A note typed live")).to_be_visible()
    card = page.frame_locator("#view-dark iframe").locator(".card").first
    assert card.evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(36, 34, 31)"
    page.get_by_role("tab", name="Plain text").click()
    expect(page.locator("#preview-text")).to_be_visible()
    expect(page.locator("#preview-text")).to_contain_text("A note typed live")
    expect(page.frame_locator("#view-dark iframe").locator("body")).to_be_hidden()

    # An empty subject is said beside the field, live.
    page.get_by_label("Subject", exact=True).fill("")
    expect(page.locator("#subject-error")).to_have_text("enter a subject")
    page.get_by_label("Subject", exact=True).fill("Typed in the browser")
    expect(page.locator("#subject-error")).to_be_hidden()

    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status").filter(has_text="Saved.")).to_be_visible()
    saved = load_issue(site.services.sessions, issue_id)
    assert (saved.subject, saved.editor_note) == ("Typed in the browser", "A note typed live")
    page.evaluate("window.notReloaded = true")

    # Reorder with the buttons: no reload, the list and the saved order follow.
    page.get_by_role("button", name="Down: Article 0").click()
    expect(page.locator("#live-status")).to_contain_text("Article moved down.")
    expect(page.locator("#article-list .article-title")).to_have_text(["Article 1", "Article 0"])
    assert [a.title for a in load_issue(site.services.sessions, issue_id).articles] == ["Article 1", "Article 0"]
    expect(page.get_by_role("button", name="Up: Article 0")).to_be_focused()
    # Add the spare article from the list: also without a reload.
    page.get_by_role("button", name="Add: Spare article").click()
    expect(page.locator("#article-list .article-title")).to_have_text(["Article 1", "Article 0", "Spare article"])
    page.get_by_role("tab", name="Plain text").click()
    expect(page.locator("#preview-text")).to_contain_text("Spare article")
    assert page.evaluate("window.notReloaded === true")
    assert_accessible(page)

    # A test to two addresses: both copies land in the outbox.
    page.get_by_label("Test address").fill("first@example.org,\nsecond@example.org")
    page.get_by_role("button", name="Send test").click()
    expect(page.get_by_role("status").filter(has_text="Test sent to first@example.org, second@example.org.")).to_be_visible()
    sent = {str(m["To"]): str(m["Subject"]) for m in outbox_messages(site.settings.outbox_path)}
    assert sent == {"first@example.org": "[Test] Typed in the browser", "second@example.org": "[Test] Typed in the browser"}


def test_without_javascript_every_action_is_a_form(site: LiveSite, browser: Browser, issue_id: int) -> None:
    context = browser.new_context(java_script_enabled=False, viewport={"width": 1000, "height": 800})
    page = context.new_page()
    browser_log_in(page, site, f"/admin/issues/{issue_id}")
    expect(page.get_by_role("tablist")).to_be_hidden()  # no tabs: every view shows
    page.get_by_label("Editor's note").fill("Previewed without scripts")
    page.get_by_role("button", name="Preview", exact=True).click()
    expect(page.frame_locator("#view-375 iframe").get_by_text("Previewed without scripts")).to_be_visible()
    expect(page.locator("#preview-text")).to_contain_text("Previewed without scripts")
    assert load_issue(site.services.sessions, issue_id).editor_note == ""
    page.get_by_role("button", name="Up: Article 1").click()
    expect(page.get_by_role("status").filter(has_text="Article moved up.")).to_be_visible()
    assert [a.title for a in load_issue(site.services.sessions, issue_id).articles] == ["Article 1", "Article 0"]
    context.close()


def test_write_an_article_and_hide_another(site: LiveSite, browser: Browser, issue_id: int) -> None:
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    browser_log_in(page, site, "/admin/articles")
    assert_accessible(page)
    page.get_by_role("link", name="New article").click()
    assert_accessible(page)
    page.get_by_label("URL").fill("not a link")
    page.get_by_role("button", name="Add article").click()
    expect(page.locator("#title-error")).to_have_text("enter a title")
    expect(page.locator("#url-error")).to_contain_text("http:// or https://")
    assert_accessible(page)  # with the messages shown
    page.get_by_label("Title", exact=True).fill("Written in the browser")
    page.get_by_label("URL").fill("https://example.org/written")
    page.get_by_label("Body").fill("A **bold** start.\n\n> Quoted line\n\nThe end.")
    page.get_by_role("button", name="Add article").click()
    expect(page.get_by_role("status").filter(has_text="Article added")).to_be_visible()
    [written] = list_articles(site.services.sessions, "Written in the browser")
    assert written.paragraphs == ["A bold start.", "Quoted line", "The end."]

    spare = list_articles(site.services.sessions, "Spare article")[0]
    page.goto(f"{site.url}/admin/articles/{spare.id}")
    page.get_by_role("button", name="Hide this article").click()
    expect(page.get_by_role("status").filter(has_text="Hidden:")).to_be_visible()
    assert get_article(site.services.sessions, spare.id).hidden
    page.goto(f"{site.url}/admin/issues/{issue_id}")
    expect(page.get_by_role("button", name="Add: Written in the browser")).to_be_visible()
    expect(page.get_by_role("button", name="Add: Spare article")).to_have_count(0)
    page.goto(f"{site.url}/admin/articles")
    expect(page.get_by_role("link", name="Spare article")).to_have_count(0)
    page.get_by_label("Show hidden articles").check()
    page.get_by_role("button", name="Search").click()
    expect(page.get_by_role("link", name="Spare article")).to_be_visible()


def test_editor_pages_fit_320px_and_pass_axe(site: LiveSite, browser: Browser, issue_id: int) -> None:
    page = browser.new_page(viewport={"width": 320, "height": 640})
    browser_log_in(page, site, "/admin/issues")
    article = list_articles(site.services.sessions)[0].id
    # axe here for the pages the tests above do not check (they check the rest at desktop width).
    for path, axe in (("/admin/issues", True), (f"/admin/issues/{issue_id}", False),
                      (f"/admin/issues/{issue_id}/preview", True), ("/admin/articles", False),
                      ("/admin/articles/new", False), (f"/admin/articles/{article}", True)):
        response = page.goto(f"{site.url}{path}")
        assert response is not None and response.ok, path
        assert scroll_width(page) <= 320, path
        if axe:
            assert_accessible(page)
    page.goto(f"{site.url}/admin/issues/{issue_id}")
    expect(page.get_by_role("tab", name="Plain text")).to_be_visible()
    assert re.search(r"scroll|auto", page.locator("#view-600").evaluate("e => getComputedStyle(e).overflowX"))
