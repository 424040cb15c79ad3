"""A reader with a tracked issue in a real browser: the pixel loads, a link lands on the article,
a damaged link shows a readable page (320 px, axe) instead of an error."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Browser, expect

from newsletter.issues.compose import compose
from newsletter.delivery.dispatch import Worker
from newsletter.issues.figures import issue_figures
from newsletter.issues.list_profile import save_profile
from tests.axe import assert_accessible
from tests.browser import LiveSite, outbox_messages, scroll_width
from tests.browser import browser as browser  # noqa: F401  (fixtures)
from tests.browser import site as site  # noqa: F401
from tests.factories import add_article, add_subscribers

pytestmark = pytest.mark.browser


def test_a_reader_opens_clicks_and_meets_a_damaged_link(site: LiveSite, browser: Browser) -> None:
    services = site.services
    save_profile(services.sessions, site.settings, tracking_enabled=True)
    # The "article" lives on this server, so the browser can follow the redirect to it.
    add_article(services.sessions, "Maps of rivers", url=f"{site.url}/subscribe")
    issue_id = compose(services.sessions, site.settings).issue_id
    add_subscribers(services.sessions, 1)
    services.publisher.queue(issue_id)
    Worker(services.store, services.backend, site.settings, services.links).run(drain=True)
    [message] = outbox_messages(site.settings.outbox_path)
    part = message.get_body(("html",))
    assert part is not None
    html = part.get_content()

    page = browser.new_page(viewport={"width": 320, "height": 640})
    # Opening the email loads its images: the pixel is fetched and counts one open.
    with page.expect_response(re.compile(r"/t/o/.+\.gif$")) as pixel:
        page.set_content(html)
    assert pixel.value.status == 200 and pixel.value.header_value("content-type") == "image/gif"

    link = re.findall(r'href="([^"]*/t/c/[^"]+)"', html)[0]
    page.goto(link)
    expect(page).to_have_url(f"{site.url}/subscribe")
    figures = issue_figures(services.sessions, issue_id)
    assert (figures.opens, figures.clicks, figures.unique_clicks) == (1, 1, 1)

    damaged = re.sub(r"/t/c/([0-9a-f]+)-\w{4}", r"/t/c/\1-zzzz", link)
    response = page.goto(damaged)
    assert response is not None and response.status == 404
    expect(page.get_by_role("heading", name="This link didn't work")).to_be_visible()
    assert scroll_width(page) <= 320
    assert_accessible(page)
