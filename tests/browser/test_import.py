"""In chromium: an editor imports a Mailchimp, a Substack and a Ghost export (preview, dry-run
report, import, readers listed), then adds, edits and erases a reader; every page at 320 px, axe-clean."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.axe import assert_accessible
from tests.browser import LiveSite, browser_log_in, scroll_width
from tests.browser import browser as browser  # noqa: F401  (fixtures)
from tests.browser import site as site  # noqa: F401

pytestmark = pytest.mark.browser
DATA = Path(__file__).resolve().parents[2] / "tests" / "data" / "import"


def check(page: Page) -> None:
    assert scroll_width(page) <= 320, page.url
    assert_accessible(page)


def import_file(page: Page, site: LiveSite, name: str, layout: str, added: int, rejected: tuple[str, str]) -> None:
    page.goto(f"{site.url}/admin/import")
    page.get_by_label("CSV file").set_input_files(DATA / name)
    page.get_by_role("button", name="Preview").click()
    expect(page.locator("#layout")).to_have_text(layout)
    email, reason = rejected
    expect(page.locator("#rejected tr").filter(has_text=email)).to_contain_text(reason)
    check(page)
    page.get_by_label("These readers already opted in").check()
    page.get_by_role("button", name=f"Import {added} readers").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Import done")
    expect(page.locator("#added")).to_have_text(str(added))
    check(page)


def test_import_three_exports_then_add_edit_and_erase(site: LiveSite, browser: Browser) -> None:
    page = browser.new_page(viewport={"width": 320, "height": 640})
    browser_log_in(page, site, "/admin/import")
    check(page)
    import_file(page, site, "mailchimp_subscribed.csv", "Mailchimp audience export", 8,
                ("marta.quintero@example.org", "duplicate of row 2"))
    import_file(page, site, "substack.csv", "Substack subscriber export", 7,
                ("ines.ferreira@example.pt", "email disabled in Substack"))
    import_file(page, site, "ghost.csv", "Ghost members export", 7,
                ("hannah.klein@example.at", "not subscribed to emails in Ghost"))

    page.get_by_role("link", name="See the subscribers").click()
    expect(page.locator("#result-count")).to_contain_text("of 22 subscribers")
    page.get_by_label("Search by address or name").fill("García")
    page.get_by_role("button", name="Search").click()
    expect(page.locator("#result-count")).to_contain_text("1–1 of 1 subscriber")
    check(page)

    page.get_by_role("link", name="Add subscriber").click()
    page.get_by_label("Email address").fill("not-an-address")
    page.get_by_role("button", name="Add subscriber").click()
    expect(page.locator("#email-error")).to_contain_text("must have an @-sign")
    check(page)
    page.get_by_label("Email address").fill("new.reader@example.org")
    page.get_by_label("Name").fill("New Reader")
    page.get_by_label("This reader already opted in").check()
    page.get_by_role("button", name="Add subscriber").click()
    expect(page.locator("#reader-status")).to_have_text("active")

    page.get_by_role("link", name="Edit address, name or status").click()
    check(page)
    page.get_by_label("Name").fill("Renamed Reader")
    page.get_by_label("Status").select_option("unsubscribed")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#reader-name")).to_have_text("Renamed Reader")
    expect(page.locator("#reader-status")).to_have_text("unsubscribed")
    check(page)

    page.get_by_role("link", name="Erase this reader (GDPR)…").click()
    expect(page.locator("#erase-email")).to_have_text("new.reader@example.org")
    check(page)
    page.get_by_role("button", name="Erase this reader").click()
    expect(page.get_by_role("status")).to_contain_text("new.reader@example.org was erased")
    expect(page.locator("#result-count")).to_contain_text("of 22 subscribers")
