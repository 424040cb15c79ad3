"""A real browser: an editor account logs in with email and password, owners' pages, logging out."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, expect

from newsletter.accounts.users import Users
from tests.axe import assert_accessible
from tests.browser import LiveSite, scroll_width
from tests.browser import browser as browser  # noqa: F401  (fixtures)
from tests.browser import site as site  # noqa: F401
from tests.accounts.test_users import FAST

pytestmark = pytest.mark.browser

EMAIL, PASSWORD = "owner@example.org", "an owner's password"


def test_an_account_logs_in_sees_its_pages_and_logs_out(site: LiveSite, browser: Browser) -> None:
    Users(site.services.sessions, FAST).create(EMAIL, PASSWORD, "owner")
    site.services.api_tokens.create("<script>alert(1)</script>")
    page = browser.new_page(viewport={"width": 320, "height": 640})
    page.goto(f"{site.url}/admin/login")
    assert_accessible(page)
    page.get_by_label("Email").fill(EMAIL)
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_have_text("Wrong email or password, or too many attempts; try again later.")
    expect(page.get_by_label("Email")).to_have_value(EMAIL)
    assert_accessible(page)  # the error state too

    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(f"{site.url}/admin/issues")
    for path, heading in (("/admin/users", "Users"), ("/admin/tokens", "API tokens")):
        page.get_by_role("link", name=heading, exact=True).click()
        expect(page).to_have_url(f"{site.url}{path}")
        expect(page.get_by_role("heading", name=heading, level=1)).to_be_visible()
        assert scroll_width(page) <= 320
        assert_accessible(page)
    expect(page.get_by_text("<script>alert(1)</script>")).to_be_visible()  # shown as text, not run

    page.get_by_label("Name").fill("dashboard")
    page.get_by_role("button", name="Create token").click()
    token = page.locator("#new-token").inner_text()
    assert token.startswith("nl_") and site.services.api_tokens.verify(token) is not None
    assert scroll_width(page) <= 320

    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_url(f"{site.url}/admin/login")
    page.goto(f"{site.url}/admin/users")
    expect(page).to_have_url(f"{site.url}/admin/login?next=%2Fadmin%2Fusers")
