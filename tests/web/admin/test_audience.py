"""The admin's audience pages through the real app: a reader's tags and fields, the segments page,
and the send confirmation counting a segment before sending to it."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Browser, expect

from newsletter.services import Services
from tests.axe import assert_accessible
from tests.browser import LiveSite, browser_log_in, scroll_width
from tests.browser import browser as browser  # noqa: F401  (fixtures)
from tests.browser import site as site  # noqa: F401
from tests.factories import add_subscribers
from tests.web.admin.test_issues import csrf, deliveries, issue_id, log_in  # noqa: F401  (issue_id: fixture)


def test_a_readers_tags_and_fields_are_edited(client: TestClient, services: Services) -> None:
    services.audience.define_field("age", "Age", "number")
    services.audience.define_field("paid", "Paid", "bool")
    [reader] = add_subscribers(services.sessions, 1)
    log_in(client)
    page = client.get(f"/admin/subscribers/{reader}").text
    assert 'id="tags"' in page and 'name="field_age"' in page and 'for="field-paid"' in page
    token = csrf(client, f"/admin/subscribers/{reader}")
    saved = client.post(f"/admin/subscribers/{reader}/audience",
                        data={"csrf_token": token, "tags": "VIP, press", "field_age": "41", "field_paid": "yes"})
    assert saved.status_code == 200 and "Saved the reader" in saved.text
    has = services.audience.reader(reader)
    assert (has.tags, has.fields) == (["press", "vip"], {"age": 41.0, "paid": True})
    assert 'value="press, vip"' in saved.text and 'value="41.0"' in saved.text and 'value="yes"' in saved.text

    refused = client.post(f"/admin/subscribers/{reader}/audience",
                          data={"csrf_token": token, "tags": "other", "field_age": "old"})
    assert "Not saved: age: &#39;old&#39; is not a number." in refused.text
    assert services.audience.reader(reader).tags == ["press", "vip"]  # nothing changed
    forged = client.post(f"/admin/subscribers/{reader}/audience", data={"csrf_token": "x", "tags": ""},
                         follow_redirects=False)
    assert forged.status_code in (401, 403) and services.audience.reader(reader).tags == ["press", "vip"]


def test_segments_page_saves_a_segment_and_the_send_counts_it_first(
    client: TestClient, services: Services, issue_id: int  # noqa: F811
) -> None:
    vips = add_subscribers(services.sessions, 2, prefix="vip")
    add_subscribers(services.sessions, 3, prefix="plain")
    for reader in vips:
        services.audience.change(reader, services.audience.check_change(["vip"], {}, text=True))
    log_in(client)
    assert "No segments yet." in client.get("/admin/segments").text
    token = csrf(client, "/admin/segments")
    bad = client.post("/admin/segments", data={"csrf_token": token, "name": "Bad", "zone": "Mars/Base"})
    assert bad.status_code == 400 and "unknown time zone" in bad.text and 'value="Mars/Base"' in bad.text
    saved = client.post("/admin/segments", data={"csrf_token": token, "name": "VIPs", "any_tags": "vip"})
    assert saved.status_code == 200 and "Saved the segment “VIPs”: 2 readers now." in saved.text
    segment = services.audience.segments()[0]

    ask = client.get(f"/admin/issues/{issue_id}/send?segment={segment.id}").text
    assert "<strong>2 readers</strong> in the segment “VIPs”" in ask
    assert f'<input type="hidden" name="segment" value="{segment.id}">' in ask
    assert "Everyone (5 active)" in client.get(f"/admin/issues/{issue_id}/send").text
    assert client.get(f"/admin/issues/{issue_id}/send?segment=99").status_code == 404
    sent = client.post(f"/admin/issues/{issue_id}/send",
                       data={"csrf_token": csrf(client), "force": "1", "segment": str(segment.id)})
    assert sent.status_code == 200 and re.search(r"Queued 2 deliveries", sent.text)
    assert deliveries(services, issue_id) == 2

    kept = client.post(f"/admin/segments/{segment.id}/remove", data={"csrf_token": csrf(client)})
    assert kept.status_code == 409 and f"was the audience of issue {issue_id}" in kept.text
    spare = services.audience.create_segment("Spare", None, {"tags": [{"match": "any", "tags": ["vip"]}]})
    removed = client.post(f"/admin/segments/{spare.id}/remove", data={"csrf_token": csrf(client)})
    assert removed.status_code == 200 and f"Removed segment {spare.id}." in removed.text
    assert [s.name for s in services.audience.segments()] == ["VIPs"]
    assert client.post(f"/admin/segments/{spare.id}/remove", data={}).status_code in (400, 403)  # no CSRF token


@pytest.mark.browser
def test_segments_page_at_320px_is_accessible(site: LiveSite, browser: Browser) -> None:
    site.services.audience.define_field("renewal", "Renewal date", "date")
    site.services.audience.create_segment("Readers with a rather long segment name", "the-weekly-briefing",
                                          {"tags": [{"match": "any", "tags": ["vip", "press"]}]})
    page = browser.new_page(viewport={"width": 320, "height": 640})
    browser_log_in(page, site, "/admin/segments")
    assert scroll_width(page) <= 320
    assert_accessible(page)
    page.get_by_label("Name", exact=True).fill("Renewing")
    page.get_by_label("Field").select_option("renewal")
    page.get_by_label("Comparison").select_option(">=")
    page.get_by_label("Value").fill("2026-07-01")
    page.get_by_role("button", name="Save the segment").click()
    expect(page.locator("#segments")).to_contain_text("Renewing")
    assert scroll_width(page) <= 320
