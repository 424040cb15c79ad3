"""A reader's whole journey in a real browser at 320 px: subscribe with a name, confirm, the welcome
email, preferences from the unsubscribe page (pause, time zone, new address), unsubscribe; and
every public page checked with axe-core and for sideways scrolling."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import select

from newsletter.issues.compose import compose
from newsletter.delivery.dispatch import Worker
from newsletter.issues.list_profile import save_profile
from newsletter.db.base import utcnow
from newsletter.readers.models import Subscriber, SubscriberStatus
from newsletter.web.public.pages import FORM_LIMIT
from tests.axe import assert_accessible
from tests.browser import LiveSite, confirm_link, outbox_messages, scroll_width
from tests.browser import browser as browser  # noqa: F401  (fixtures)
from tests.browser import site as site  # noqa: F401
from tests.factories import add_article

pytestmark = pytest.mark.browser

SMALL = {"width": 320, "height": 640}


def check(page: Page) -> None:
    """What every public page must pass: no sideways scrolling at 320 px, no serious axe findings."""
    assert scroll_width(page) <= 320, f"{page.url} scrolls sideways at 320 px"
    assert_accessible(page)


def reader(site: LiveSite, address: str) -> Subscriber:
    with site.services.sessions() as session:
        found = session.scalar(select(Subscriber).where(Subscriber.email == address))
    assert found is not None
    return found


def test_a_readers_journey(site: LiveSite, browser: Browser) -> None:
    save_profile(site.services.sessions, site.settings, welcome_enabled=True)
    outbox = site.settings.outbox_path
    page = browser.new_page(viewport=SMALL)

    page.goto(f"{site.url}/subscribe")
    check(page)
    page.get_by_label("Email").fill("ana@example.org")
    page.get_by_label("Name (optional)").fill("Ana")
    page.get_by_role("button", name="Subscribe").click()
    expect(page.get_by_role("heading", name="Check your inbox")).to_be_visible()
    check(page)

    page.goto(confirm_link(outbox, "ana@example.org"))
    expect(page.get_by_role("heading", name="You're subscribed")).to_be_visible()
    check(page)
    ana = reader(site, "ana@example.org")
    assert ana.status is SubscriberStatus.ACTIVE and ana.name == "Ana"

    # The welcome email arrived, with the reader's own unsubscribe link.
    [welcome] = [m for m in outbox_messages(outbox) if str(m["Subject"]) == "Welcome to The Test Briefing"]
    text = welcome.get_body(preferencelist=("plain",))
    assert text is not None and "Hi Ana," in text.get_content()
    unsubscribe = re.search(r"https?://\S+/unsubscribe/\S+", text.get_content())
    assert unsubscribe

    page.goto(unsubscribe.group(0))
    expect(page.get_by_role("heading", name="Unsubscribe from The Test Briefing?")).to_be_visible()
    check(page)
    page.get_by_role("link", name=re.compile("pause the newsletter")).click()
    expect(page.get_by_role("heading", name="Your preferences")).to_be_visible()
    check(page)

    page.get_by_label("Pause for").select_option(label="2 weeks")
    page.get_by_role("button", name="Pause").click()
    expect(page.get_by_text("Paused until")).to_be_visible()
    check(page)
    paused_until = reader(site, "ana@example.org").paused_until
    assert paused_until is not None and timedelta(days=13) < paused_until - utcnow() <= timedelta(days=14)

    page.get_by_label("Time zone").select_option("Asia/Tokyo")
    page.get_by_role("button", name="Save time zone").click()
    expect(page.get_by_text("Your time zone is saved.")).to_be_visible()
    assert reader(site, "ana@example.org").time_zone == "Asia/Tokyo"

    page.get_by_label("New email address").fill("ana@example.net")
    page.get_by_role("button", name="Change address").click()
    expect(page.get_by_text("the newsletter keeps going to ana@example.org")).to_be_visible()
    check(page)
    preferences = page.url
    page.goto(confirm_link(outbox, "ana@example.net"))
    expect(page.get_by_role("heading", name="Your address is changed")).to_be_visible()
    check(page)
    assert reader(site, "ana@example.net").id == ana.id

    page.goto(preferences)
    page.get_by_role("button", name="Unsubscribe").click()
    expect(page.get_by_role("heading", name="You're unsubscribed")).to_be_visible()
    check(page)
    assert reader(site, "ana@example.net").status is SubscriberStatus.UNSUBSCRIBED


def test_messages_beside_fields_in_a_browser(site: LiveSite, browser: Browser) -> None:
    site.services.subscriptions.add("ana@example.org")
    page = browser.new_page(viewport=SMALL)
    page.goto(site.services.links.preferences(reader(site, "ana@example.org").id))
    page.get_by_label("New email address").fill("ana@example.org")
    page.get_by_role("button", name="Change address").click()
    expect(page.get_by_label("New email address")).to_have_accessible_description(
        re.compile("already the address you receive")
    )
    expect(page.get_by_label("New email address")).to_have_value("ana@example.org")
    check(page)


def test_archive_and_issue_web_version(site: LiveSite, browser: Browser) -> None:
    services = site.services
    services.subscriptions.add("ana@example.org", "Ana")
    add_article(services.sessions, "A headline for the archive")
    issue_id = compose(services.sessions, services.settings).issue_id
    services.publisher.queue(issue_id)
    Worker(services.store, services.backend, services.settings, services.links).run(drain=True)

    page = browser.new_page(viewport=SMALL)
    page.goto(f"{site.url}/archive")
    check(page)
    page.get_by_role("link", name=re.compile("A headline for the archive|#1")).first.click()
    expect(page.get_by_role("paragraph").filter(has_text="The first paragraph of A headline")).to_be_visible()
    assert scroll_width(page) <= 320
    assert "ana@example.org" not in page.content()
    assert_accessible(page)


def test_error_pages(site: LiveSite, browser: Browser) -> None:
    page = browser.new_page(viewport=SMALL)
    for path, status in (("/preferences/forged-token", 400), ("/unsubscribe/forged-token", 400),
                         ("/preferences/confirm/forged", 400), ("/archive/999", 404), ("/nowhere", 404)):
        response = page.goto(f"{site.url}{path}")
        assert response is not None and response.status == status, path
        check(page)

    for n in range(FORM_LIMIT):
        page.request.post(f"{site.url}/subscribe", form={"email": f"reader{n}@example.org"})
    page.goto(f"{site.url}/subscribe")
    page.get_by_label("Email").fill("one-more@example.org")
    page.get_by_role("button", name="Subscribe").click()
    expect(page.get_by_role("heading", name="Too many tries from your connection")).to_be_visible()
    check(page)
